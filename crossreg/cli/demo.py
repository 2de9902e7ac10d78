"""`crossreg demo`: the seed scenario in one command, plus the data owner's `run-model`."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

from crossreg.cli.options import data_dir_option

_DATA_DIR_DEFAULT = ".data"


def _quiet() -> None:
    """The demo's output is its display; client libraries' request logs would drown it."""
    import logging

    for name in ("httpx", "httpcore", "botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _data_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("CROSSREG_DATA_DIR") or _DATA_DIR_DEFAULT).resolve()


@click.group(invoke_without_command=True)
@data_dir_option
@click.option("--endpoint", default=None, metavar="URL",
              help="Use this running crossreg instead of starting one (give its --data-dir too, "
                   "where the demo creates the two accounts).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the server the demo starts.")
@click.option("--port", default=5000, type=int, show_default=True,
              help="Port of the server the demo starts (0: any free port).")
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--tag", default="latest_eif", show_default=True)
@click.option("--yes", "-y", is_flag=True, help="Do not pause between steps (non-interactive).")
@click.option("--no-wait", is_flag=True, help="Same as --yes.")
@click.option("--keep-running", is_flag=True,
              help="Leave the server the demo started running (for the console) when it ends.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the replication.")
@click.option("--mode", type=click.Choice(["http", "stdin"]), default="http", show_default=True,
              help="How the owner's run calls the model: its HTTP server on 127.0.0.1, or its "
                   "batch mode on stdin (without network interfaces where possible).")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the machine-readable summary [default: <data-dir>/demo/summary.json].")
@click.option("--base-layout", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="OCI layout of a base image with python3 (e.g. python:3.12-slim) to build on.")
@click.pass_context
def demo(ctx, data_dir, endpoint, host, port, region, tag, yes, no_wait, keep_running, timeout, mode,
         summary_json, base_layout) -> None:
    """Run the seed scenario end to end: two accounts, a cross-account replication rule, the
    owner's registry policy, a real model image pushed by the provider, the replication watched
    live, and the owner running the model on its own CSV. Prints the AWS CLI / skopeo commands
    for every step."""
    _quiet()
    if ctx.invoked_subcommand is not None:
        return
    from crossreg.demo.scenario import Demo, DemoError, Options

    opts = Options(data_dir=_data_dir(data_dir), endpoint=endpoint, host=host, port=port, region=region,
                   tag=tag, yes=yes or no_wait, keep_running=keep_running, timeout=timeout, mode=mode,
                   summary_json=summary_json, base_layout=base_layout)
    try:
        Demo(opts).run()
    except DemoError as exc:
        raise click.ClickException(str(exc))
    except KeyboardInterrupt:
        raise click.Abort()


def _owner_credentials(data_dir: Path, who: str) -> dict | None:
    from crossreg.demo.scenario import OWNER, PROVIDER, load_credentials

    creds = load_credentials(data_dir)
    return creds.get({"owner": OWNER, "provider": PROVIDER}.get(who, who))


@demo.command("env")
@click.argument("who", type=click.Choice(["provider", "owner"]))
@data_dir_option
@click.option("--region", default="us-east-1", show_default=True)
def env(who, data_dir, region) -> None:
    """Print `export AWS_...` lines for the demo's provider or owner account
    (use: eval "$(crossreg demo env provider)")."""
    creds = _owner_credentials(_data_dir(data_dir), who)
    if not creds:
        raise click.ClickException(f"no demo credentials in {_data_dir(data_dir) / 'demo'}; run `crossreg demo` first")
    click.echo(f"export AWS_ACCESS_KEY_ID={shlex.quote(creds['accessKeyId'])} "
               f"AWS_SECRET_ACCESS_KEY={shlex.quote(creds['secretAccessKey'])} "
               f"AWS_DEFAULT_REGION={region}  # account {creds['accountId']} ({creds.get('name', who)})")


@demo.command("build-image")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="OCI image layout directory to write (push it with skopeo copy oci:DIR:TAG ...).")
@click.option("--tag", default="latest_eif", show_default=True)
@click.option("--base-layout", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="OCI layout of a base image that provides python3, to stack the model on.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the held-out patients (with diagnosis) as a CSV here.")
def build_image(output, tag, base_layout, csv_out) -> None:
    """Train the classifier and write the model image as an OCI layout."""
    from crossreg.demo.image import build_model_image, write_layout
    from crossreg.demo.model import train

    model = train()
    image = write_layout(build_model_image(model, tag=tag, base_layout=base_layout), output)
    if csv_out:
        csv_out.write_text(model.holdout_csv())
    click.echo(json.dumps({"layout": str(output), "tag": tag, "manifestDigest": image.manifest_digest,
                           "modelSha256": model.sha256, "accuracy": model.accuracy,
                           "layers": image.layer_names}, indent=2))


@demo.command("run-model")
@data_dir_option
@click.option("--endpoint", default="http://127.0.0.1:5000", show_default=True, metavar="URL")
@click.option("--region", envvar="AWS_DEFAULT_REGION", default="us-east-1", show_default=True)
@click.option("--repository", default="breast-cancer-classifier", show_default=True)
@click.option("--tag", "reference", default="latest_eif", show_default=True, help="Tag or digest to run.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The CSV to predict ('-' = stdin) [default: <data-dir>/demo/owner-data.csv].")
@click.option("--mode", type=click.Choice(["http", "stdin"]), default="http", show_default=True)
@click.option("--as", "who", type=click.Choice(["owner", "provider", "env"]), default=None,
              help="Whose keys to use: the demo's saved owner/provider keys, or AWS_ACCESS_KEY_ID/"
                   "AWS_SECRET_ACCESS_KEY [default: env when set, else the demo's owner].")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the pulled blobs and unpacked tree here instead of a temp dir.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def run_model(data_dir, endpoint, region, repository, reference, csv_path, mode, who, keep, as_json) -> None:
    """As the data owner: pull the model image from your own registry, verify every digest,
    unpack it and run its entrypoint locally (no container runtime, no network needed) on your CSV."""
    import shutil
    import tempfile

    from crossreg.demo.display import Display
    from crossreg.demo.runner import pull_and_run
    from crossreg.demo.scenario import ecr_client, registry_password, show_result

    ddir = _data_dir(data_dir)
    if who is None:
        who = "env" if os.environ.get("AWS_ACCESS_KEY_ID") else "owner"
    if who == "env":
        if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
            raise click.ClickException("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        creds = {"accessKeyId": os.environ["AWS_ACCESS_KEY_ID"], "secretAccessKey": os.environ["AWS_SECRET_ACCESS_KEY"]}
    else:
        creds = _owner_credentials(ddir, who)
        if not creds:
            raise click.ClickException(f"no demo credentials in {ddir / 'demo'}; set AWS_ACCESS_KEY_ID/"
                                       "AWS_SECRET_ACCESS_KEY or run `crossreg demo` first")
    if csv_path is None:
        csv_path = ddir / "demo" / "owner-data.csv"
    body = sys.stdin.buffer.read() if str(csv_path) == "-" else Path(csv_path).read_bytes()

    ecr = ecr_client(endpoint, creds, region)
    repo = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    # repositoryUri: host:port/<account>/<region>/<name>, or <account>.dkr.ecr.<region>.<domain>/<name>
    host, _, path = repo["repositoryUri"].partition("/")
    if not path.startswith(repo["registryId"] + "/"):
        path = f"{repo['registryId']}/{region}/{path}"
    workdir = keep or Path(tempfile.mkdtemp(prefix="crossreg-run-model-"))
    display = Display(1, stream=sys.stderr if as_json else sys.stdout)
    try:
        result = pull_and_run(endpoint, registry_password(ecr), path, reference, body, Path(workdir),
                              mode=mode, progress=display.progress)
    except Exception as exc:  # noqa: BLE001 - report any failure of the chain in one line
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        show_result(display, result)
