"""The installable app and its Web Push sign-up (issue 22 item 8).

* ``/manifest.webmanifest``, ``/icons/<size>.png``: what a phone needs to install the app
  on its home screen (standalone, starting at the orders list).
* ``/sw.js``: the service worker, at the app's root so its scope is the whole app. It
  caches the **shell only** (the stylesheets, scripts, icons and an offline page) and
  never a page or JSON answer with orders in it: those always go to the network, and a
  navigation that cannot reach it gets the offline page. It also shows pushed alerts.
* ``/offline``: that page (no data, no sign-in needed).
* ``/push`` (signed in): turn alerts on for this phone. The page subscribes with the
  app's VAPID public key and posts the ``PushSubscription`` to ``/push/subscriptions``
  with the Messenger manager it alerts (``orderhub.push``); the notifier pushes there
  when that manager's Messenger window has closed.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib

from flask import Blueprint, Response, g, request

from orderhub import logs
from orderhub.order_form import pages
from orderhub.order_form.auth import login_required
from orderhub.order_form.wiring import now, wiring
from orderhub.push import COLLECTION, BadSubscription, FirestoreSubscriptions, read_subscription

bp = Blueprint("pwa", __name__)

ICON_SIZES = (192, 512)
THEME = "#0b6e4f"
#: Bump when the shell's files change: the worker then drops the old cache.
SHELL_VERSION = "2"
#: What the worker caches, below the app's base path: nothing that holds an order.
SHELL = (
    "/offline",
    "/assets/form.css",
    "/assets/crm.css",
    "/assets/form.js",
    "/assets/crm.js",
    "/assets/share.js",
    "/assets/pwa.js",
    "/icons/192.png",
    "/icons/512.png",
)


def _png(size: int) -> bytes:
    """A square icon: the theme colour with a white ring (an "O"), drawn here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    green, white = bytes((11, 110, 79)), bytes((255, 255, 255))
    centre, outer, inner = (size - 1) / 2, size * 0.30, size * 0.19
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for x in range(size):
            d = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
            row += white if inner <= d <= outer else green
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


@functools.cache
def icon_bytes(size: int) -> bytes:
    return _png(size)


@bp.get("/icons/<int:size>.png")
def icon(size: int) -> Response:
    if size not in ICON_SIZES:
        return Response("not found\n", status=404, mimetype="text/plain")
    response = Response(icon_bytes(size), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    base = pages.base()
    body = {
        "name": "OrderHub",
        "short_name": "OrderHub",
        "description": "The shop's orders, customers and alerts",
        "id": f"{base}/orders",
        "start_url": f"{base}/orders",
        "scope": f"{base}/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {
                "src": f"{base}/icons/{n}.png",
                "sizes": f"{n}x{n}",
                "type": "image/png",
                "purpose": "any",
            }
            for n in ICON_SIZES
        ]
        + [
            {
                "src": f"{base}/icons/512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            }
        ],
    }
    response = Response(json.dumps(body), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


SW = """// OrderHub's service worker: the app's shell offline, and pushed alerts.
// It caches the shell only (styles, scripts, icons, the offline page): never a page or
// JSON answer, which hold orders and customers. Those always go to the network.
"use strict";
const BASE = %(base)s;
const CACHE = "orderhub-shell-" + %(version)s;
const SHELL = %(shell)s.map(function (p) { return BASE + p; });

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (SHELL.indexOf(url.pathname) >= 0 && request.mode !== "navigate") {
    // The shell: from the cache, refreshed in the background.
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (hit) {
        const fresh = fetch(request).then(function (answer) {
          if (answer.ok) cache.put(request, answer.clone());
          return answer;
        });
        return hit || fresh;
      });
    }));
    return;
  }
  if (request.mode === "navigate") {
    // Pages: always the network (never stored); offline, the offline page.
    event.respondWith(fetch(request).catch(function () {
      return caches.match(BASE + "/offline");
    }));
  }
  // Anything else (JSON, the mail, ...): the network, untouched.
});

self.addEventListener("push", function (event) {
  let alert = { title: "OrderHub", body: "", url: BASE + "/orders" };
  try { alert = Object.assign(alert, event.data ? event.data.json() : {}); } catch (e) {}
  event.waitUntil(self.registration.showNotification(alert.title, {
    body: alert.body, icon: BASE + "/icons/192.png", badge: BASE + "/icons/192.png",
    data: { url: alert.url || BASE + "/orders" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});
"""


@bp.get("/sw.js")
def service_worker() -> Response:
    script = SW % {
        "base": json.dumps(pages.base()),
        "version": json.dumps(SHELL_VERSION),
        "shell": json.dumps(list(SHELL)),
    }
    response = Response(script, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"  # browsers check for a new worker
    response.headers["Service-Worker-Allowed"] = (pages.base() or "") + "/"
    return response


@bp.get("/offline")
def offline() -> Response:
    response = pages.page("offline.html")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _subscriptions() -> FirestoreSubscriptions:
    w = wiring()
    return FirestoreSubscriptions(w.firestore, w._collection(COLLECTION))


def _push_page(*, error: str = "", saved: str = "", status: int = 200) -> Response:
    w = wiring()
    try:
        told = list(w.notify_list.load() or ())
    except Exception as exc:  # noqa: BLE001 - the page still says what it can
        logs.warning("managers list unreadable", error=str(exc))
        told = []
    mine = _subscriptions().for_manager(g.manager.id)
    guess = next((m.subscriber_id for m in told if m.name == g.manager.name), "")
    return pages.page(
        "push.html",
        status,
        vapid_public_key=w.settings.vapid_public_key,
        told=told,
        chosen=mine[0]["subscriber_id"] if mine else guess,
        devices=len(mine),
        error=error,
        saved=saved,
    )


@bp.get("/push")
@login_required
def push_page() -> Response:
    return _push_page()


@bp.post("/push/subscriptions")
@login_required
def subscribe() -> Response:
    """``subscription`` (the PushSubscription's JSON) and ``subscriber_id`` (the Messenger
    manager whose alerts this phone gets)."""
    w = wiring()
    if not w.settings.vapid_public_key:
        return _push_page(error="Alerts are not set up here (VAPID_PUBLIC_KEY).", status=404)
    subscriber = (request.form.get("subscriber_id") or "").strip()
    listed = {m.subscriber_id for m in (w.notify_list.load() or ())}
    if subscriber not in listed:
        return _push_page(error="Choose whose alerts this phone gets.", status=422)
    try:
        sub = read_subscription(json.loads(request.form.get("subscription") or "null"))
    except (BadSubscription, ValueError) as exc:
        return _push_page(error=f"This browser's subscription was not usable: {exc}", status=400)
    _subscriptions().save(sub, subscriber_id=subscriber, manager=g.manager.id, now=now())
    logs.info("push subscription saved", manager=g.manager.id, subscriber_id=subscriber)
    return _push_page(saved="Alerts are on for this phone.", status=201)
