"""Drives headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe): opens URL, then every
INTERVAL seconds evaluates EXPRESSION in the live page and prints the result as one JSON line; at the end takes a
screenshot to SCREENSHOT. Usage: cdp.py URL EXPRESSION COUNT INTERVAL SCREENSHOT"""
import json, os, subprocess, sys, time, base64

url, expression, count, interval, screenshot = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()
def child_fds():
    os.dup2(to_chrome_r, 3)
    os.dup2(from_chrome_w, 4)
chrome = subprocess.Popen(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--window-size=1200,1200",
     "about:blank"], pass_fds=(3, 4), preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_chrome_r); os.close(from_chrome_w)
buffer = b""
next_id = 0
def send(method, params=None, session=None):
    global next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session: message["sessionId"] = session
    os.write(to_chrome_w, json.dumps(message).encode() + b"\0")
    return receive(next_id)
def receive(wanted):
    global buffer
    deadline = time.time() + 30
    while time.time() < deadline:
        while b"\0" in buffer:
            raw, buffer = buffer.split(b"\0", 1)
            message = json.loads(raw)
            if message.get("id") == wanted:
                if "error" in message: raise RuntimeError(message["error"])
                return message["result"]
        chunk = os.read(from_chrome_r, 1 << 20)
        if not chunk: raise RuntimeError("chromium closed the pipe")
        buffer += chunk
    raise RuntimeError("no answer from chromium")
try:
    target = send("Target.createTarget", {"url": url})["targetId"]
    session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for _ in range(count):
        time.sleep(interval)
        result = send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        print(json.dumps(result["result"].get("value")), flush=True)
    shot = send("Page.captureScreenshot", {"format": "png"}, session)
    with open(screenshot, "wb") as f: f.write(base64.b64decode(shot["data"]))
finally:
    try: send("Browser.close")
    except Exception: pass
    try: chrome.wait(timeout=10)
    except subprocess.TimeoutExpired:
        chrome.kill(); chrome.wait()
