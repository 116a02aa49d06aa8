#!/usr/bin/env bash
# Installs what the notebooks need, idempotently (a second run only checks):
#   - Jupyter from Debian's packages (only the missing ones; sudo only when not root),
#   - the Java kernel io.github.padreati:rapaio-jupyter-kernel from Maven Central into target/jupyter/,
#   - the project's classes and runtime dependencies (target/classes, target/lib/),
#   - a project-local kernelspec target/jupyter/kernels/java-xraydl/kernel.json.
# Use it with JUPYTER_PATH="$PWD/target/jupyter" (see notebooks/execute.sh and the README).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

RJK_VERSION="${RJK_VERSION:-3.0.1}"
JUPYTER_DIR="$ROOT/target/jupyter"
KERNEL_DIR="$JUPYTER_DIR/kernels/java-xraydl"
KERNEL_JAR="$JUPYTER_DIR/rapaio-jupyter-kernel-$RJK_VERSION.jar"
LIB_DIR="$ROOT/target/lib"
# The kernel runs the notebook's code in its own JVM: heap and ND4J's off-heap caps for that JVM.
KERNEL_HEAP="${XRAYDL_KERNEL_HEAP:-2g}"
KERNEL_OFFHEAP="${XRAYDL_KERNEL_OFFHEAP:-3g}"
KERNEL_PHYSICAL="${XRAYDL_KERNEL_PHYSICAL:-6g}"

say() { echo "[setup] $*"; }

# 1. Debian packages, only those missing.
APT_PACKAGES=(jupyter-core jupyter-client jupyter-nbconvert python3-nbconvert python3-nbclient python3-ipykernel jupyter-notebook)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi
/usr/bin/jupyter --version >/dev/null

# 2. The kernel jar (a self-contained jar) from Maven Central.
if [ ! -s "$KERNEL_JAR" ]; then
  say "fetching rapaio-jupyter-kernel $RJK_VERSION"
  mvn -B -q dependency:copy -Dartifact="io.github.padreati:rapaio-jupyter-kernel:$RJK_VERSION" \
      -DoutputDirectory="$JUPYTER_DIR" -Dmdep.overWriteIfNewer=true
else
  say "kernel jar present"
fi

# 3. Project classes and runtime dependencies (again whenever pom.xml is newer than the copy).
STAMP="$LIB_DIR/.copied"
if [ ! -f "$STAMP" ] || [ pom.xml -nt "$STAMP" ] || [ ! -d target/classes ]; then
  say "compiling and copying the runtime dependencies to target/lib"
  rm -rf "$LIB_DIR"
  mvn -B -q compile dependency:copy-dependencies -DoutputDirectory="$LIB_DIR" -DincludeScope=runtime
  touch "$STAMP"
else
  say "target/lib up to date"
fi

# 4. The kernelspec: the JDK 17 flags of .mvn/jvm.config, smaller memory caps, the project on the classpath.
JAVA_BIN="${JAVA_HOME:+$JAVA_HOME/bin/java}"
JAVA_BIN="${JAVA_BIN:-$(command -v java)}"
OPENS=$(tr ' ' '\n' < .mvn/jvm.config | grep -E '^(--add-opens|-XX:\+IgnoreUnrecognizedVMOptions)' || true)
mkdir -p "$KERNEL_DIR"
/usr/bin/python3 - "$KERNEL_DIR/kernel.json" "$JAVA_BIN" "$KERNEL_JAR" "$ROOT" "$KERNEL_HEAP" "$KERNEL_OFFHEAP" "$KERNEL_PHYSICAL" "$OPENS" <<'PY'
import json, sys
out, java, jar, root, heap, offheap, physical, opens = sys.argv[1:9]
argv = [java, f"-Xmx{heap}",
        f"-Dorg.bytedeco.javacpp.maxbytes={offheap}",
        f"-Dorg.bytedeco.javacpp.maxphysicalbytes={physical}",
        "-Dorg.deeplearning4j.crash.reporting.enabled=false",
        "-Djava.awt.headless=true"]
argv += opens.split()
argv += ["-jar", jar, "{connection_file}"]
spec = {
    "argv": argv,
    "display_name": "Java (pneumonia-dl4j)",
    "language": "java",
    "interrupt_mode": "message",
    "env": {
        # ';'-separated globs; absolute, so notebooks anywhere see the project.
        "RJK_CLASSPATH": f"{root}/target/classes;{root}/target/lib/*.jar",
        "RJK_COMPILER_OPTIONS": "",
        "RJK_INIT_SCRIPT": "",
        "RJK_TIMEOUT_MILLIS": "-1",
        "XRAYDL_PROJECT": root,
    },
}
new = json.dumps(spec, indent=2) + "\n"
try:
    old = open(out).read()
except OSError:
    old = None
if old != new:
    open(out, "w").write(new)
    print(f"[setup] wrote {out}")
else:
    print(f"[setup] kernelspec up to date: {out}")
PY
say "ready: JUPYTER_PATH=$JUPYTER_DIR jupyter notebook notebooks/"
