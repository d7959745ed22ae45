/* Loaded by the sign-in page: whoever is signed out must not be able to open a kept
   copy of a route sheet (children's names and addresses) without signal. The visits
   still waiting in the phone's outbox (IndexedDB) are kept: they are sent after the
   next sign-in. */
'use strict';
(function () {
  function done() { window.gridmapSignedOut = true; }
  if (!('caches' in window)) { done(); return; }
  caches.delete('gridmap-route-v1').then(done, done);
})();
