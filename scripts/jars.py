"""The project's JVM jars: locked by coordinates and sha256, fetched once with the machine's `mvn`.

    python3 scripts/jars.py lock     resolve jvm/jars.in (runtime dependencies included) into jvm/jars.lock
    python3 scripts/jars.py fetch    put exactly the locked jars in .jars/<set>/ (nothing when they are there)
    python3 scripts/jars.py check    exit 1 unless .jars/ holds exactly the lock

Only set-up runs this: no process resolves anything when it starts (Spark gets local paths in
`spark.jars`, the broker a classpath). Standard library only: it runs before the virtualenv
matters. Maven is asked through its ordinary client, with the registry the machine configures.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUT = ROOT / "jvm" / "jars.in"
LOCK = ROOT / "jvm" / "jars.lock"
JARS = ROOT / ".jars"


def say(text: str) -> None:
    print(f"setup: {text}", file=sys.stderr)


def read_table(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append(line.split())
    return rows


def pom(dependencies: list[str], transitive: bool) -> str:
    """A throwaway POM asking for `dependencies` (group:artifact:version)."""
    parts = []
    for coordinates in dependencies:
        group, artifact, version = coordinates.split(":")
        exclusions = (
            "" if transitive else "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId>"
            "</exclusion></exclusions>"
        )
        parts.append(
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version>{exclusions}</dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>orders-lakehouse</groupId><artifactId>jars</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{''.join(parts)}</dependencies></project>"
    )


def mvn(work: Path, *goal: str) -> None:
    if shutil.which("mvn") is None:
        raise SystemExit("setup: Maven (mvn) is missing: install it (Debian/Ubuntu: apt-get install maven)")
    done = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(work / "pom.xml"), *goal], capture_output=True, text=True
    )
    if done.returncode != 0:
        out = done.stdout + done.stderr
        lines = [x for x in out.splitlines() if "[ERROR]" in x] or out.splitlines()[-3:]
        reason = lines[0].replace("[ERROR]", "").strip() if lines else "no output"
        if any(w in out for w in ("UnknownHost", "Connection refused", "Network is unreachable", "timed out")):
            raise SystemExit(f"setup: Maven Central cannot be reached, so the JVM jars cannot be fetched: {reason}")
        raise SystemExit(f"setup: Maven could not fetch the JVM jars: {reason}")


def copy(dependencies: list[str], transitive: bool, into: Path) -> list[Path]:
    """Have Maven copy `dependencies` (with their runtime dependencies when `transitive`) into `into`."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(pom(dependencies, transitive))
        mvn(
            work,
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={into}",
            "-Dmdep.prependGroupId=false",
        )
        if transitive:
            listing = work / "list.txt"
            mvn(work, "dependency:list", "-DincludeScope=runtime", f"-DoutputFile={listing}")
            return [Path(x) for x in _coordinates(listing)]
    return sorted(into.glob("*.jar"))


def _coordinates(listing: Path) -> list[str]:
    """`group:artifact:jar:version:scope` lines of `mvn dependency:list` -> group:artifact:version."""
    found = []
    for line in listing.read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) >= 5 and parts[2] == "jar":
            found.append(f"{parts[0]}:{parts[1]}:{parts[-2] if len(parts) == 6 else parts[3]}")
    return sorted(found)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def jar_name(coordinates: str) -> str:
    _, artifact, version = coordinates.split(":")
    return f"{artifact}-{version}.jar"


def pyspark_jars() -> set[str]:
    """Artifact names of the jars the installed PySpark ships (its copy wins on the classpath)."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(venv_python), "-c", "import pyspark, os; print(os.path.dirname(pyspark.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {re.sub(r"-\d[^-]*(-[^-]+)?\.jar$", "", p.name) for p in (Path(out) / "jars").glob("*.jar")}


def lock() -> None:
    """Resolve jvm/jars.in and write jvm/jars.lock (set, coordinates, sha256 per jar)."""
    wanted: dict[str, list[str]] = {}
    for jar_set, coordinates in read_table(INPUT):
        wanted.setdefault(jar_set, []).append(coordinates)
    shipped = pyspark_jars()
    lines = [
        "# Generated by `python3 scripts/jars.py lock` from jvm/jars.in: every jar of the project's",
        "# JVM parts, with its sha256. Set-up fetches exactly these into .jars/<set>/.",
        "# set\tcoordinates\tsha256",
    ]
    for jar_set, coordinates in wanted.items():
        with tempfile.TemporaryDirectory() as tmp:
            into = Path(tmp)
            resolved = copy(coordinates, transitive=True, into=into)
            for found in resolved:
                name = jar_name(str(found))
                artifact = str(found).split(":")[1]
                if jar_set == "spark" and artifact in shipped:
                    continue
                lines.append(f"{jar_set}\t{found}\t{sha256(into / name)}")
    LOCK.write_text("\n".join(lines) + "\n")
    say(f"wrote {LOCK.relative_to(ROOT)} ({len(lines) - 3} jars)")


def locked() -> dict[str, list[tuple[str, str]]]:
    sets: dict[str, list[tuple[str, str]]] = {}
    for jar_set, coordinates, digest in read_table(LOCK):
        sets.setdefault(jar_set, []).append((coordinates, digest))
    return sets


def in_place(jar_set: str, jars: list[tuple[str, str]]) -> bool:
    folder = JARS / jar_set
    names = {jar_name(c) for c, _ in jars}
    if not folder.is_dir() or {p.name for p in folder.glob("*.jar")} != names:
        return False
    stamp = folder / ".locked"
    want = hashlib.sha256(repr(sorted(jars)).encode()).hexdigest()
    return stamp.exists() and stamp.read_text() == want


def fetch() -> None:
    """Fetch the locked jars of every set that is not already in place, checking each sha256."""
    for jar_set, jars in locked().items():
        if in_place(jar_set, jars):
            continue
        say(f"fetching the {jar_set} jars ({len(jars)}) from Maven Central")
        folder = JARS / jar_set
        with tempfile.TemporaryDirectory(dir=JARS.parent if JARS.parent.exists() else None) as tmp:
            into = Path(tmp) / jar_set
            into.mkdir()
            copy([c for c, _ in jars], transitive=False, into=into)
            for coordinates, digest in jars:
                path = into / jar_name(coordinates)
                if not path.exists():
                    raise SystemExit(f"setup: Maven did not deliver {coordinates}")
                if sha256(path) != digest:
                    raise SystemExit(f"setup: {coordinates} does not match its sha256 in jvm/jars.lock")
            extra = {p.name for p in into.glob("*.jar")} - {jar_name(c) for c, _ in jars}
            for name in extra:
                (into / name).unlink()
            (into / ".locked").write_text(hashlib.sha256(repr(sorted(jars)).encode()).hexdigest())
            shutil.rmtree(folder, ignore_errors=True)
            JARS.mkdir(exist_ok=True)
            into.rename(folder)


def check() -> int:
    missing = [s for s, jars in locked().items() if not in_place(s, jars)]
    if missing:
        print(f"jars not in place: {', '.join(missing)} (run make setup)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    if command == "lock":
        lock()
    elif command == "fetch":
        fetch()
    elif command == "check":
        sys.exit(check())
    else:
        raise SystemExit(__doc__)
