"""The hostile notebook's code: every "may not" of DESIGN.md's sealed notebooks, each tried and reported.

Each attack records "blocked" (the operating system said no: PermissionError, EPERM,
EACCES, nothing heard on a socket), "succeeded", or "error: …" (something else went wrong,
which a test treats as a failure of the test itself). The outcomes are printed as one JSON
line, ``OUTCOMES {...}``, which the test reads from the executed notebook.
"""

HOSTILE = r"""
import ctypes, errno, json, os, signal, socket, subprocess, sys, time
T = json.load(open(targets))
really_signal = T["really_signal"]
outcomes = {}

def attempt(name, action):
    try:
        action()
        outcomes[name] = "succeeded"
    except PermissionError:
        outcomes[name] = "blocked"
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM):
            outcomes[name] = "blocked"
        else:
            outcomes[name] = f"error: {error!r}"
    except Blocked:
        outcomes[name] = "blocked"
    except Exception as error:
        outcomes[name] = f"error: {error!r}"

class Blocked(Exception):
    pass

def read(path):
    if os.path.isdir(path):
        os.listdir(path)
    else:
        open(path, "rb").read(16)

def write(path):
    with open(path, "w") as handle:
        handle.write("planted by a hostile notebook\n")

for name in ("store", "state_folder", "inbox", "outbox", "other_run", "daemon_home", "daemon_home_secret",
             "config", "token_file", "urls_file", "pgpassfile", "credentials", "credentials_secret",
             "other_connection_file"):
    attempt(f"read {name}", lambda p=T[name]: read(p))
for name in ("state_folder", "inbox", "outbox", "other_run", "notebooks"):
    attempt(f"write into {name}", lambda p=T[name]: write(os.path.join(p, "planted.txt")))
attempt("write a forged manifest in the outbox",
        lambda: (os.makedirs(os.path.join(T["outbox"], "victim", "2026-11-24"), exist_ok=True),
                 write(os.path.join(T["outbox"], "victim", "2026-11-24", "manifest.json"))))
attempt("write the store", lambda: open(T["store"], "r+b").write(b"x"))

def unix_connect(address):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(address)
    finally:
        s.close()
attempt("connect to another kernel's shell socket", lambda: unix_connect(T["other_shell_address"]))

def listen_iopub():
    import zmq
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(T["other_iopub_url"])
    try:
        if not sub.poll(8000):
            raise Blocked()
        sub.recv_multipart()
    finally:
        sub.close()
attempt("read another kernel's output (IOPub)", listen_iopub)

def send(pid, sig):
    os.kill(pid, sig)
for name in ("daemon_pid", "worker_pid", "other_kernel_pid"):
    attempt(f"signal 0 to {name}", lambda p=T[name]: send(p, 0))
    if really_signal:
        attempt(f"SIGSTOP to {name}", lambda p=T[name]: send(p, signal.SIGSTOP))
        attempt(f"SIGTERM to {name}", lambda p=T[name]: send(p, signal.SIGTERM))

libc = ctypes.CDLL(None, use_errno=True)
def ptrace_seize(pid):
    if libc.ptrace(0x4206, pid, 0, 0) != 0:  # PTRACE_SEIZE: no stop
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
attempt("ptrace another kernel", lambda: ptrace_seize(T["other_kernel_pid"]))
if really_signal:
    attempt("ptrace the daemon", lambda: ptrace_seize(T["daemon_pid"]))
for leaf in ("environ", "maps", "fd", "cmdline"):
    attempt(f"read /proc/<daemon>/{leaf}", lambda leaf=leaf: read(f"/proc/{T['daemon_pid']}/{leaf}"))
attempt("read /proc/<daemon>/mem", lambda: open(f"/proc/{T['daemon_pid']}/mem", "rb").close())
attempt("read /proc/<other kernel>/environ", lambda: read(f"/proc/{T['other_kernel_pid']}/environ"))

def tcp(port):
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
attempt("connect to the metrics port", lambda: tcp(T["metrics_port"]))
attempt("connect to a PostgreSQL port", lambda: tcp(T["postgres_port"]))
attempt("connect to FlowAPI without flowapi_token", lambda: tcp(T["flowapi_port"]))

home = os.path.expanduser("~")
def plant_startup(folder):
    startup = os.path.join(folder, ".ipython", "profile_default", "startup")
    os.makedirs(startup, exist_ok=True)
    write(os.path.join(startup, "00-hostile.py"))
def plant_kernelspec(folder):
    spec = os.path.join(folder, ".local", "share", "jupyter", "kernels", "python3")
    os.makedirs(spec, exist_ok=True)
    write(os.path.join(spec, "kernel.json"))
attempt("plant a startup file in the daemon's home", lambda: plant_startup(T["daemon_home"]))
attempt("plant a kernelspec in the daemon's home", lambda: plant_kernelspec(T["daemon_home"]))
attempt("plant a .pth in site-packages", lambda: write(os.path.join(T["site_packages"], "afw_hostile_planted.pth")))
# in its own (private) home these work: a later kernel must not see them
with open(os.path.join(home, "planted.txt"), "w") as handle:
    handle.write("x")
plant_startup(home)
plant_kernelspec(home)

DOUBLE_FORK = "\n".join([
    "import os, time",
    "if os.fork() == 0:",
    "    os.setsid()",
    "    if os.fork() == 0:",
    "        print(os.getpid(), flush=True)",
    "        time.sleep(600)",
    "    os._exit(0)",
    "os._exit(0)",
])
sleeper = subprocess.Popen([sys.executable, "-c", DOUBLE_FORK], stdout=subprocess.PIPE, text=True)
outcomes["sleeper_pid"] = int(sleeper.stdout.readline())
sleeper.wait()
outcomes["home"] = home
print("OUTCOMES " + json.dumps(outcomes))
"""

LATER = r"""
import json, os, sys
home = os.path.expanduser("~")
traces = [p for p in ("planted.txt", ".ipython/profile_default/startup/00-hostile.py",
                      ".local/share/jupyter/kernels/python3/kernel.json") if os.path.exists(os.path.join(home, p))]
traces += [m for m in sys.modules if "hostile" in m]
print("TRACES " + json.dumps({"traces": traces, "home": home}))
"""

VICTIM = r"""
import json, os, sys, time
from ipykernel import get_connection_file
sys.__stdout__.write("VICTIM " + json.dumps({"pid": os.getpid(), "connection_file": get_connection_file()}) + "\n")
sys.__stdout__.flush()
release = os.path.join(os.path.dirname(targets), "release")
deadline = time.monotonic() + 300
while not os.path.exists(release) and time.monotonic() < deadline:
    print("tick", flush=True)
    time.sleep(0.2)
"""
