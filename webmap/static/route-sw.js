/* The route sheet's service worker (served as /map/route/sw.js, scope /map/route/),
   written by hand (no Workbox): it keeps what a grid worker needs without signal.

   - pages and the plan (/map/route/..., /api/routes...): from the network when there is
     one (and kept), else the kept copy;
   - our static files and the boundary tiles (/static/, /tiles/): the kept copy, else the
     network (and kept);
   - everything else, and every request that is not a GET (visits), passes through:
     visits recorded offline wait in the page's IndexedDB outbox, not here. */
'use strict';
var CACHE = 'gridmap-route-v1';  // deleted by signed-out.js on the sign-in page

self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (e) { e.waitUntil(self.clients.claim()); });

function networkFirst(req) {
  return fetch(req).then(function (resp) {
    // A redirect (to the sign-in page) is never kept in place of the page asked for.
    if (resp.ok && !resp.redirected) {
      var copy = resp.clone();
      caches.open(CACHE).then(function (c) { c.put(req, copy); });
    }
    return resp;
  }).catch(function () {
    return caches.match(req).then(function (hit) {
      return hit || new Response(JSON.stringify({error: {message: '没有网络，本机也没有保存这一页'}}),
        {status: 503, headers: {'Content-Type': 'application/json'}});
    });
  });
}

function cacheFirst(req) {
  return caches.match(req).then(function (hit) {
    return hit || fetch(req).then(function (resp) {
      if (resp.ok) {
        var copy = resp.clone();
        caches.open(CACHE).then(function (c) { c.put(req, copy); });
      }
      return resp;
    });
  });
}

self.addEventListener('fetch', function (e) {
  var req = e.request;
  if (req.method !== 'GET') { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  var p = url.pathname;
  if (p === '/map/route/sw.js') { return; }
  if (p.indexOf('/static/') === 0 || p.indexOf('/tiles/') === 0) {
    e.respondWith(cacheFirst(req));
  } else if (p.indexOf('/map/route/') === 0 || p.indexOf('/api/routes') === 0) {
    e.respondWith(networkFirst(req));
  }
});
