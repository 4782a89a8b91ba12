"""Packaging that pyproject.toml cannot say: the Alembic migrations (top-level `alembic/` in the source tree)
ship inside the wheel as `connector/migrations`, so `bcc-capture db upgrade` works from an installed wheel."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["connector*", "providers*"]), "connector.migrations",
              "connector.migrations.versions"],
    package_dir={"connector.migrations": "alembic"},
    package_data={"connector.migrations": ["*.py", "*.mako", "versions/*.py"]},
)
