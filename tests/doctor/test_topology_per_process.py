"""Topology per process: each service, workload, program and image with its own replicas × workers, and checks that
ask about the processes sharing what they look at. Every tree here is a minimal reproduction of a real layout."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from parapet_cli.doctor.runner import run_doctor
from parapet_cli.doctor.topology import Process, Topology
from tests.doctor.helpers import doctor, found, topology, write


def process(topo: Topology, name: str) -> Process:
    (hit,) = [p for p in topo.processes if p.name == name]
    return hit


def notes(report: object) -> list[tuple[str | None, str]]:
    return sorted((r.finding.path, r.finding.message) for r in report.active if r.finding.rule == "PAR000")  # type: ignore[attr-defined]


CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    "chart/values.yaml": (
        "image:\n"
        "  repository: registry.example.com/shop\n"
        "ingress:\n"
        '  host: "{{ .Values.global.domain }}"\n'
        "web:\n"
        "  replicaCount: 2\n"
        "  command: [gunicorn, shop.wsgi]\n"
        "beat:\n"
        "  replicaCount: 3\n"
        "  command: [celery, -A, shop, beat]\n"
    ),
    "chart/templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: {{ .Values.web.replicaCount }}\n"
    ),
}


def test_chart_values_with_a_templated_string_are_parsed(tmp_path: Path) -> None:
    write(tmp_path, CHART)
    report = doctor(tmp_path, "PAR101")
    assert found(report, "PAR101") == [("chart/values.yaml", 10, "error")]
    assert "Helm values shop/beat (3 replicas)" in report.active[0].finding.message
    # only the file that is a template as a whole is skipped, and the skip is a note
    assert notes(doctor(tmp_path)) == [
        ("chart/templates/deployment.yaml", "skipped: a Helm template: not YAML until rendered")
    ]


def test_a_template_outside_a_chart_that_does_not_parse_is_a_note(tmp_path: Path) -> None:
    write(tmp_path, {"deploy/web.yaml": "{{- if .Values.web }}\nkind: Deployment\n{{- end }}\n"})
    assert notes(doctor(tmp_path)) == [
        ("deploy/web.yaml", "skipped: a template (Go/Helm/Jinja syntax): not YAML until rendered")
    ]


def test_uwsgi_ini_processes_and_an_sqlite_url(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "docker-compose.yml": "services:\n  web:\n    build: .\n    command: uwsgi --ini uwsgi.ini\n"
            "    environment:\n      DATABASE_URL: sqlite:////data/db.sqlite3\n",
            "uwsgi.ini": "[uwsgi]\nmodule = shop.wsgi:application\nprocesses = 5\nmaster = true\n",
            "Dockerfile": "FROM python:3.12\nCOPY . /app\n",
        },
    )
    web = process(topology(tmp_path), "web")
    assert (web.server, web.workers, web.workers_at and (web.workers_at.path, web.workers_at.line)) == (
        "uwsgi",
        5,
        ("uwsgi.ini", 3),
    )
    report = doctor(tmp_path, "PAR103")
    assert found(report, "PAR103") == [("docker-compose.yml", 6, "warning")]
    assert "1 replica × 5 uwsgi workers" in report.active[0].finding.message


API_AND_SIDECAR = {
    "api/Dockerfile": "FROM python:3.12\nWORKDIR /app\nCOPY . .\nCMD gunicorn --workers 4 app:app\n",
    "api/app.py": (
        "from flask import Flask\n"
        "from flask_limiter import Limiter\n"
        "from flask_limiter.util import get_remote_address\n"
        "\n"
        "app = Flask(__name__)\n"
        'app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///shop.db"\n'
        "limiter = Limiter(get_remote_address, app=app)\n"
    ),
    "dashboard/main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
    "docker-compose.yml": (
        "services:\n"
        "  dashboard:\n"
        "    image: python:3.12\n"
        "    command: uvicorn dashboard.main:app --host 0.0.0.0\n"
        "  api:\n"
        "    build: ./api\n"
    ),
}


def test_an_api_built_from_its_dockerfile_beside_a_bare_uvicorn_sidecar(tmp_path: Path) -> None:
    write(tmp_path, API_AND_SIDECAR)
    topo = topology(tmp_path)
    api, dashboard = process(topo, "api"), process(topo, "dashboard")
    assert (api.dockerfile, api.context, api.server, api.workers) == ("api/Dockerfile", "api", "gunicorn", 4)
    assert (dashboard.dockerfile, dashboard.server, dashboard.workers) == (None, "uvicorn", 1)
    assert topo.sharing("api/app.py").processes == (api,)
    report = doctor(tmp_path, "PAR103", "PAR104")
    assert found(report, "PAR103") == [("api/app.py", 6, "warning")]
    assert found(report, "PAR104") == [("api/app.py", 7, "error")]
    assert all("compose service api (1 replica × 4 gunicorn workers)" in r.finding.message for r in report.active)


def test_an_overlay_that_only_adds_links_makes_no_service(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "docker-compose.yml": "services:\n  web:\n    build: .\n    command: gunicorn -w 4 shop.wsgi\n"
            "  db:\n    image: postgres:16\n",
            "docker-compose.links.yml": "services:\n  web:\n    links: [db]\n",
            "docker-compose.prod.yml": "services:\n  web:\n    deploy:\n      replicas: 3\n",
            "Dockerfile": "FROM python:3.12\nCMD python manage.py runserver\n",
        },
    )
    topo = topology(tmp_path)
    assert sorted(p.name for p in topo.processes) == ["db", "web"]
    web = process(topo, "web")
    assert (web.replicas, web.workers, web.path, web.line) == (3, 4, "docker-compose.prod.yml", 2)
    assert web.command == "gunicorn -w 4 shop.wsgi"
    db = process(topo, "db")
    assert db.dockerfile is None and db.script == []  # postgres:16 is not the repository's image


def test_extends_starts_a_service_from_another(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "common.yml": "services:\n  app:\n    image: registry.example.com/shop\n"
            "    environment:\n      WEB_CONCURRENCY: '3'\n",
            "docker-compose.yml": "services:\n  web:\n    extends: {file: common.yml, service: app}\n"
            "    command: gunicorn shop.wsgi\n    deploy: {replicas: 2}\n",
        },
    )
    web = process(topology(tmp_path), "web")
    assert (web.replicas, web.workers, web.workers_at and web.workers_at.path) == (2, 3, "common.yml")


def test_include_brings_other_applications_in_with_their_own_project_directory(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "include:\n"
            "  - infra/db.yml\n"  # short syntax: relative to the including file
            "  - path: [deploy/api/base.yml, deploy/api/scale.yml]\n"  # long syntax: the list merged as -f merges
            "    project_directory: services/api\n"
            "  - missing.yml\n"
            "services:\n  web:\n    build: .\n    command: gunicorn -w 2 shop.wsgi\n",
            "Dockerfile": "FROM python:3.12\nCMD gunicorn shop.wsgi\n",
            "infra/db.yml": "include: [cache.yml]\nservices:\n  db:\n    image: postgres:16\n",
            "infra/cache.yml": "include: [db.yml]\nservices:\n  cache:\n    image: redis:7\n",
            # the included model's build context resolves against its project_directory, not the file's folder
            "deploy/api/base.yml": "services:\n  api:\n    build: .\n",
            # an overlay no file names as Compose: merged only because the include lists it with base.yml
            "deploy/api/scale.yml": "services:\n  api:\n    deploy: {replicas: 3}\n",
            "services/api/Dockerfile": "FROM python:3.12\nCMD gunicorn --workers 4 api.main:app\n",
        },
    )
    topo = topology(tmp_path)
    assert sorted(p.name for p in topo.processes) == ["api", "cache", "db", "web"]
    api = process(topo, "api")
    assert (api.context, api.dockerfile) == ("services/api", "services/api/Dockerfile")
    assert (api.replicas, api.workers, api.path) == (3, 4, "deploy/api/scale.yml")
    assert process(topo, "web").dockerfile == "Dockerfile"
    report = doctor(tmp_path, "multinode")
    assert notes(report) == [
        ("compose.yaml", "skipped: included Compose file not found in the repository: missing.yml"),
        ("infra/cache.yml", "skipped: include cycle: compose.yaml -> infra/db.yml -> infra/cache.yml -> infra/db.yml"),
    ]
    assert [(r.finding.path, r.finding.line) for r in report.active if r.finding.rule == "PAR000"] == [
        ("compose.yaml", 5),
        ("infra/cache.yml", 1),
    ]


def test_django_engine_chosen_from_an_environment_variable(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "shop/settings.py": (
                "import os\n\n"
                'INSTALLED_APPS = ["django.contrib.auth"]\n'
                "DATABASES = {\n"
                '    "default": {\n'
                '        "ENGINE": f"django.db.backends.{os.environ[\'DATABASE_TYPE\']}",\n'
                '        "NAME": "/data/db.sqlite3",\n'
                "    }\n"
                "}\n"
            ),
            "docker-compose.yml": "services:\n  web:\n    build: .\n    command: gunicorn -w 3 shop.wsgi\n"
            "    environment:\n      DATABASE_TYPE: sqlite3\n",
            "Dockerfile": "FROM python:3.12\n",
        },
    )
    report = doctor(tmp_path, "PAR103")
    assert found(report, "PAR103") == [("shop/settings.py", 6, "warning")]
    assert "DATABASE_TYPE" in report.active[0].finding.message
    (tmp_path / "docker-compose.yml").write_text(
        (tmp_path / "docker-compose.yml").read_text().replace("sqlite3", "postgresql")
    )
    assert found(doctor(tmp_path, "PAR103"), "PAR103") == []


def test_migrations_in_gunicorn_hooks_and_entrypoint_scripts(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "gunicorn.conf.py": (
                "from django.core.management import call_command\n\n"
                "workers = 2\n\n\n"
                "def on_starting(server):\n"
                '    call_command("migrate", interactive=False)\n'
            ),
            "docker/entrypoint.sh": '#!/bin/sh\nset -e\npython manage.py migrate --noinput\nexec "$@"\n',
            "Dockerfile": 'FROM python:3.12\nENTRYPOINT ["/usr/local/bin/entrypoint.sh"]\n'
            'CMD ["gunicorn", "shop.wsgi"]\n',
            "docker-compose.yml": "services:\n  web:\n    build: .\n    deploy: {replicas: 2}\n",
        },
    )
    report = doctor(tmp_path, "PAR111")
    assert found(report, "PAR111") == [("docker/entrypoint.sh", 3, "warning"), ("gunicorn.conf.py", 7, "warning")]
    # under a lock, one replica migrates and the others wait
    (tmp_path / "docker/entrypoint.sh").write_text(
        '#!/bin/sh\nflock /data/migrate.lock python manage.py migrate --noinput\nexec "$@"\n'
    )
    assert found(doctor(tmp_path, "PAR111"), "PAR111") == [("gunicorn.conf.py", 7, "warning")]


def test_a_migration_in_a_worker_hook_runs_in_every_worker(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "gunicorn.conf.py": "workers = 4\n\n\ndef post_fork(server, worker):\n"
            "    from alembic import command\n    command.upgrade(cfg, 'head')\n",
            "Procfile": "web: gunicorn -c gunicorn.conf.py app:app\n",
        },
    )
    report = doctor(tmp_path, "PAR111")
    assert found(report, "PAR111") == [("gunicorn.conf.py", 6, "warning")]
    assert "every gunicorn worker" in report.active[0].finding.message


@pytest.mark.parametrize(
    ("files", "workers", "where"),
    [
        ({"Procfile": "web: gunicorn app:app\n", ".env": ""}, 1, ("Procfile", 1)),
        (
            {
                "Dockerfile": 'FROM python:3.12\nENV GUNICORN_CMD_ARGS="--workers 3 --bind 0.0.0.0:8000"\n'
                "CMD gunicorn app:app\n"
            },
            3,
            ("Dockerfile", 2),
        ),
        (
            {"conf/gunicorn_config.py": "workers = 5\n", "Procfile": "web: gunicorn -c conf/gunicorn_config.py a:b\n"},
            5,
            ("conf/gunicorn_config.py", 1),
        ),
        ({"Dockerfile": "FROM python:3.12\nENV WEB_CONCURRENCY=6\nCMD gunicorn app:app\n"}, 6, ("Dockerfile", 2)),
        ({"Dockerfile": "FROM python:3.12\nENV UVICORN_WORKERS=3\nCMD uvicorn app:app\n"}, 3, ("Dockerfile", 2)),
        ({"Procfile": "web: granian --interface asgi --workers 4 app:app\n"}, 4, ("Procfile", 1)),
        ({"Dockerfile": "FROM python:3.12\nENV GRANIAN_WORKERS=2\nCMD granian app:app\n"}, 2, ("Dockerfile", 2)),
        (
            {
                "docker/uwsgi.ini": "[uwsgi]\nmaster\nprocesses = 4\n",
                "Dockerfile": 'FROM python:3.12\nCMD ["uwsgi", "/opt/app/docker/uwsgi.ini"]\n',
            },
            4,
            ("docker/uwsgi.ini", 3),
        ),
        (
            {
                "start.sh": "#!/bin/sh\nWORKERS=${WORKERS:-1}\nexec gunicorn app:app --workers $WORKERS\n",
                "docker-compose.yml": "services:\n  web:\n    build: .\n    command: ./start.sh\n"
                "    environment:\n      - WORKERS=3\n",
                "Dockerfile": "FROM python:3.12\n",
            },
            3,
            ("docker-compose.yml", 6),
        ),
        (
            {
                "app/main.py": "import uvicorn\n\n\ndef main():\n    uvicorn.run('app.api:app', workers=3)\n",
                "Dockerfile": "FROM python:3.12\nCMD python app/main.py\n",
            },
            3,
            ("app/main.py", 5),
        ),
        (
            {
                "app/main.py": "import uvicorn\nfrom app.settings import settings\n\n"
                "uvicorn.run('app.api:app', workers=settings.WORKERS)\n",
                "Dockerfile": "FROM python:3.12\nENV UVICORN_WORKERS=2\nCMD python -m app.main\n",
            },
            2,
            ("Dockerfile", 2),
        ),
    ],
    ids=[
        "default",
        "GUNICORN_CMD_ARGS",
        "gunicorn -c",
        "WEB_CONCURRENCY",
        "UVICORN_WORKERS",
        "granian flag",
        "GRANIAN_WORKERS",
        "uwsgi positional ini",
        "shell variable",
        "uvicorn.run literal",
        "uvicorn.run from settings",
    ],
)
def test_worker_counts_from_every_place_servers_read_them(
    tmp_path: Path, files: dict[str, str], workers: int, where: tuple[str, int]
) -> None:
    write(tmp_path, files)
    (web,) = [p for p in topology(tmp_path).services if p.web]
    assert web.workers == workers
    assert web.workers_at is not None and (web.workers_at.path, web.workers_at.line) == where


def test_s6_services_run_in_every_replica_of_their_container(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": 'FROM python:3.12\nCOPY docker/rootfs /\nENTRYPOINT ["/init"]\n',
            "docker/rootfs/etc/s6-overlay/s6-rc.d/svc-scheduler/run": "#!/bin/bash\nexec celery --app shop beat\n",
            "docker/rootfs/etc/s6-overlay/s6-rc.d/svc-scheduler/type": "longrun\n",
            "docker/rootfs/etc/s6-overlay/s6-rc.d/init-migrate/run": "#!/bin/bash\npython3 manage.py migrate\n",
            "docker/rootfs/etc/s6-overlay/s6-rc.d/init-migrate/type": "oneshot\n",
            "docker-compose.yml": "services:\n  app:\n    image: ghcr.io/example/shop:latest\n"
            "    deploy: {replicas: 2}\n",
        },
    )
    topo = topology(tmp_path)
    beat = process(topo, "svc-scheduler")
    assert beat.in_container is process(topo, "app") and beat.replicas == 2
    assert process(topo, "init-migrate").kind == "init"
    report = doctor(tmp_path, "PAR101")
    assert found(report, "PAR101") == [("docker/rootfs/etc/s6-overlay/s6-rc.d/svc-scheduler/run", 2, "error")]
    assert "s6 service svc-scheduler in compose service app (2 replicas)" in report.active[0].finding.message


def test_supervisord_programs_and_numprocs(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "deploy/supervisor/app.conf": "[program:web]\ncommand=gunicorn shop.wsgi -w 2\n\n"
            "[program:jobs]\ncommand=python manage.py run_scheduler\nnumprocs=3\n"
            "process_name=%(program_name)s_%(process_num)s\n",
            "Dockerfile": "FROM python:3.12\nCOPY deploy/supervisor /etc/supervisor/conf.d\nCMD supervisord\n",
            "k8s/app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  replicas: 1\n"
            "  template:\n    spec:\n      containers:\n        - name: app\n"
            "          image: registry.example.com/app\n",
        },
    )
    topo = topology(tmp_path)
    jobs = process(topo, "jobs")
    assert (jobs.numprocs, jobs.multi, jobs.multi_process) == (3, False, True)
    assert process(topo, "web").workers == 2


def test_a_fifo_named_like_python_never_blocks_the_doctor(tmp_path: Path) -> None:
    write(tmp_path, {"app/ok.py": "x = 1\n", "docker-compose.yml": "services:\n  web:\n    image: shop\n"})
    os.mkfifo(tmp_path / "app" / "evil.py")
    os.mkfifo(tmp_path / "Dockerfile")
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(run_doctor(tmp_path)), daemon=True)
    thread.start()
    thread.join(60)
    assert done, "parapet doctor blocked on a FIFO"
    assert {"app/evil.py", "Dockerfile"} <= {path for path, _ in notes(done[0])}


def test_real_layouts_seen_on_public_services(tmp_path: Path) -> None:
    """A script COPY'd under another name, a multi-stage image, a continued command line, a third-party image
    beside a built service (saleor, mealie, paperless-ngx, DefectDojo lay themselves out like this)."""
    write(
        tmp_path,
        {
            "Dockerfile": (
                "FROM python:3.12 AS base\nENV APP_HOME=/app\nCOPY docker/rootfs /\n"
                'FROM base AS final\nCOPY ./docker/entry.sh $APP_HOME/run.sh\nENTRYPOINT ["/app/run.sh"]\n'
            ),
            "docker/entry.sh": '#!/bin/sh\nexec uwsgi \\\n  --module shop.wsgi \\\n  --processes "${PROCS:-4}"\n',
            "docker/rootfs/etc/s6-overlay/s6-rc.d/svc-beat/run": "#!/bin/sh\nexec celery -A shop beat\n",
            "docker/rootfs/etc/s6-overlay/s6-rc.d/svc-beat/type": "longrun\n",
            "docker-compose.yml": "services:\n  web:\n    build: .\n    deploy: {replicas: 2}\n"
            "  dashboard:\n    image: ghcr.io/acme/shop-dashboard:3\n",
        },
    )
    topo = topology(tmp_path)
    web, dashboard = process(topo, "web"), process(topo, "dashboard")
    assert (web.server, web.workers, web.workers_at and web.workers_at.path) == ("uwsgi", 4, "docker/entry.sh")
    assert dashboard.dockerfile is None and dashboard.script == []
    beat = process(topo, "svc-beat")
    assert beat.in_container is web and beat.multi is True


def test_development_fallbacks_are_not_the_deployment(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "shop/settings.py": (
                "import os\n"
                "from django.core.management.utils import get_random_secret_key\n\n"
                'DEBUG = os.environ.get("DEBUG") == "1"\n'
                'SECRET_KEY = os.environ.get("SECRET_KEY")\n'
                'INSTALLED_APPS = ["shop"]\n'
                'DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}\n'
                'if os.getenv("DB") == "postgres":\n'
                '    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql"}}\n'
                "if not SECRET_KEY and DEBUG:\n"
                "    SECRET_KEY = get_random_secret_key()\n"
            ),
            "Procfile": "web: gunicorn -w 4 shop.wsgi\n",
        },
    )
    report = doctor(tmp_path, "PAR103", "PAR104")
    assert found(report, "PAR104") == []  # the random key is DEBUG's fallback only
    # SQLite is what the settings fall back to when DB is not postgres: lowered, low confidence
    assert found(report, "PAR103") == [("shop/settings.py", 7, "info")]
    assert report.active[0].finding.confidence.value == "low"
