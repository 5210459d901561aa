"""How many processes and nodes run the service, inferred from the repository (or declared in the spec).

The multi-node checks only matter when something runs more than once. This package finds every process the
repository starts and how many copies of it run, one parser per deployment format feeding one typed model
(``model.py``):

- ``kubernetes.py``: Deployments, StatefulSets, DaemonSets, Argo Rollouts, Jobs and CronJobs (``replicas``, an
  ``HorizontalPodAutoscaler`` naming the workload, init containers run once per pod);
- ``helm.py``: charts' ``values.yaml`` (``replicaCount`` and ``autoscaling.enabled``, at the top or one level down);
- ``compose.py``: Compose services (``deploy.replicas``, ``scale``), overlays merged as Compose merges them;
- ``paas.py``: ``render.yaml`` (``numInstances``, ``scaling``) and Procfiles (scaled outside the repository);
- ``supervisor.py``: supervisord programs and s6-overlay services, inside the containers that hold them;
- ``dockerfile.py``: ``ENV``, ``CMD``/``ENTRYPOINT``, linked to the services that build or run its image;
- ``servers.py``: each web server's workers, from flags, config files (gunicorn, uWSGI ``.ini``) and variables.

Each process has its own replicas × workers; a check asks about the processes that share what it looks at
(``Topology.sharing``). A ``topology:`` block in the spec wins over all of it. Unknown stays unknown (``None``):
checks treat it as several copies, with their severity lowered one step.
"""

from parapet_cli.doctor.topology.infer import infer
from parapet_cli.doctor.topology.model import Dockerfile, Gunicorn, Line, Process, Sharing, Topology, any_of, where
from parapet_cli.doctor.topology.shell import WEB_SERVERS, after, flag_value, words, words_run
from parapet_cli.doctor.topology.yamlpath import get, yline

__all__ = [
    "WEB_SERVERS",
    "Dockerfile",
    "Gunicorn",
    "Line",
    "Process",
    "Sharing",
    "Topology",
    "after",
    "any_of",
    "flag_value",
    "get",
    "infer",
    "where",
    "words",
    "words_run",
    "yline",
]
