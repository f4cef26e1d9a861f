"""Where a batch's jobs run: one after another in this process (LocalExecutor), or
as tasks on a Ray cluster (RayExecutor, the optional extra [ray])."""

import os
import socket

from nst import interrupts
from nst.errors import UserError, flag


class LocalExecutor:
  """Jobs one after another in this process (TensorFlow and the network are loaded
  once for all of them)."""
  name = "local"
  parallelism = 1

  def map(self, function, argument_lists):
    """Yield (index, function(*arguments)) for each, in order, as each finishes."""
    for index, arguments in enumerate(argument_lists):
      yield index, function(*arguments)

  def close(self):
    pass


class RayExecutor:
  """One Ray task per job, on a local instance started here or on a cluster at
  `address`; each task asks for one GPU when the cluster has GPUs, so N GPUs run N
  jobs at once. Workers import nst themselves (it must be installed on every node)
  and read the weights by the same rules as a local run."""
  name = "ray"

  def __init__(self, address=None, num_cpus=None):
    try:
      import ray  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise UserError(f'{flag("executor")}=ray needs Ray: pip install -e ".[ray]" (or '
                      'pip install "ray>=2.9")', option="executor") from None
    self.ray = ray
    self.started = not ray.is_initialized()
    if self.started:
      try:
        if address:
          _check_reachable(address)
          ray.init(address=address, log_to_driver=True)
        else:  # a local instance, just for this batch
          ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                   log_to_driver=True)
      except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"{flag('ray_address')}: cannot connect to Ray at {address!r} "
                        f"({e}); start it with `ray start --head`, or omit "
                        f"{flag('ray_address')} for a local instance",
                        option="ray_address") from None
    resources = ray.cluster_resources()
    self.gpus = int(resources.get("GPU", 0))
    self.parallelism = self.gpus or max(1, int(resources.get("CPU", 1)))

  def map(self, function, argument_lists):
    """Yield (index, result) as each task finishes; a task lost to the cluster (a
    worker killed, out of memory) yields its RayError as the result."""
    ray = self.ray
    task = ray.remote(num_cpus=1, num_gpus=1 if self.gpus else 0,
                      max_retries=0)(function)
    pending = {task.remote(*arguments): i for i, arguments in enumerate(argument_lists)}
    try:
      while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(done[0])
        try:
          yield index, ray.get(done[0])
        except ray.exceptions.RayError as e:
          yield index, e
    finally:
      self._stop(list(pending))

  def _stop(self, refs):
    """Stopped early (SIGINT or SIGTERM here): a task not started is dropped; a
    running one is interrupted as Ctrl-C would (Ray raises KeyboardInterrupt in it,
    so it saves its partial image and checkpoint) and waited for. A second signal
    stops the waiting and kills them."""
    ray = self.ray
    if not refs:
      return
    for ref in refs:
      ray.cancel(ref, force=False)
    try:
      ray.wait(refs, num_returns=len(refs))
    except interrupts.INTERRUPTS:
      for ref in refs:
        ray.cancel(ref, force=True)

  def close(self):
    if self.started:
      self.ray.shutdown()


def _check_reachable(address):
  """Ray waits minutes on an address where nothing listens; a plain host:port (not
  auto, not ray://) is tried first, for a prompt error."""
  host, sep, port = address.rpartition(":")
  if address == "auto" or "://" in address or not sep or not port.isdigit():
    return
  try:
    socket.create_connection((host, int(port)), timeout=5).close()
  except OSError as e:
    raise ConnectionError(f"nothing answers at {address} ({e.strerror or e})") from None


def make_executor(name, address=None, num_cpus=None):
  if name == "local":
    return LocalExecutor()
  if name == "ray":
    return RayExecutor(address, num_cpus)
  raise UserError(f"{flag('executor')} must be local or ray, got {name!r}",
                  option="executor")
