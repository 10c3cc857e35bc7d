"""Install a profile of profiles/ where Snakemake finds it by name, keeping the site's settings.

    python -m triggertrace.install_profile slurm --account myacct --partition gpu

copies ``profiles/slurm/profile.yaml`` to ``~/.config/snakemake/slurm/profile.yaml`` (Snakemake's
user profile directory; ``--dest`` for another), so that ``snakemake --profile slurm`` works from
the repository. Run again after an update: the new file replaces the old one, and the values of
the site settings (account, partition, status command, GPU kinds) already installed are kept
unless given again on the command line.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPOSITORY_PROFILES = Path(__file__).resolve().parents[1] / "profiles"
# setting -> (regex of its line in the profile, where its value sits in the parsed profile)
SITE_SETTINGS = {
    "account": (r"^(  slurm_account: ).*?(\s+#.*)?$", ("default-resources", "slurm_account")),
    "partition": (r"^(  slurm_partition: ).*?(\s+#.*)?$", ("default-resources", "slurm_partition")),
    "status_command": (r"^(slurm-status-command: ).*?(\s+#.*)?$", ("slurm-status-command",)),
    "gpu_kinds": (r"^(  gpu_kinds: ).*?(\s+#.*)?$", ("config", "gpu_kinds")),
}


def user_profile_dir() -> Path:
    from snakemake.common import get_appdirs

    return Path(get_appdirs().user_config_dir)


def _lookup(profile: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        if not isinstance(profile, dict) or key not in profile:
            return None
        profile = profile[key]
    return profile


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with each given site setting's value put on its line (comments kept)."""
    for name, value in values.items():
        pattern = re.compile(SITE_SETTINGS[name][0], flags=re.MULTILINE)
        if not pattern.search(template):
            raise SystemExit(f"install_profile: the profile has no {name} line to set")
        quoted = yaml.safe_dump(value, default_style='"').strip()
        match = pattern.search(template)
        line = f"{match.group(1)}{quoted}{match.group(2) or ''}"
        template = template[: match.start()] + line + template[match.end() :]
    return template


def install(name: str, destination: Path, given: dict[str, str | None], no_account: bool = False) -> Path:
    template = (REPOSITORY_PROFILES / name / "profile.yaml").read_text()
    target = destination / name / "profile.yaml"
    installed = yaml.safe_load(target.read_text()) if target.is_file() else {}
    values: dict[str, str] = {}
    for setting, (_, keys) in SITE_SETTINGS.items():
        value = given.get(setting)
        if value is None:
            value = _lookup(installed or {}, keys)
        if value is not None:
            values[setting] = str(value)
    text = render(template, values)
    if no_account or (installed and "slurm_account" not in (installed.get("default-resources") or {})):
        # a site without accounts: no account line, now and on every update
        text = re.sub(SITE_SETTINGS["account"][0] + r"\n", "", text, count=1, flags=re.MULTILINE)
    yaml.safe_load(text)  # still valid YAML
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triggertrace.install_profile", description=__doc__.split("\n")[0])
    parser.add_argument("name", help="a profile under profiles/ (slurm)")
    parser.add_argument("--dest", type=Path, default=None, help="profile directory (default ~/.config/snakemake)")
    parser.add_argument("--account")
    parser.add_argument("--no-account", action="store_true", help="the cluster needs no account: drop the line")
    parser.add_argument("--partition")
    parser.add_argument("--status-command", choices=["sacct", "squeue"])
    parser.add_argument("--gpu-kinds", help='"<kind>:<GB> ...", e.g. "a100:80 h100:80"')
    args = parser.parse_args(argv)
    given = {
        "account": args.account,
        "partition": args.partition,
        "status_command": args.status_command,
        "gpu_kinds": args.gpu_kinds,
    }
    target = install(args.name, args.dest or user_profile_dir(), given, no_account=args.no_account)
    print(f"installed {target}: run `snakemake --profile {args.name}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
