// Sign in with EDS: fetch a one-time challenge, have NCALayer sign it with the authentication key,
// post the signature. The page works without this script (the password form); the EDS form stays
// hidden then, as NCALayer cannot be reached without JavaScript.
//
// `window.kezekNcaLayer.sign(base64) -> Promise<base64 CMS>` is the only contact with NCALayer;
// browser tests define their own before this script runs.
(function () {
  'use strict';

  // NCALayer's WebSocket on the user's computer, legacy module kz.gov.pki.knca.commonUtils:
  // createCAdESFromBase64(storage, keyType, data, attached) replies {code: "200", responseObject}.
  function ncaLayerSign(base64) {
    return new Promise(function (resolve, reject) {
      var socket;
      try {
        socket = new WebSocket('wss://127.0.0.1:13579/');
      } catch (e) {
        reject(e);
        return;
      }
      socket.onopen = function () {
        socket.send(JSON.stringify({
          module: 'kz.gov.pki.knca.commonUtils',
          method: 'createCAdESFromBase64',
          args: ['PKCS12', 'AUTHENTICATION', base64, false],
        }));
      };
      socket.onmessage = function (event) {
        if (event.data === '--heartbeat--') return;
        var reply;
        try {
          reply = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        // The first message after connecting may be NCALayer's version banner.
        if (reply.result && reply.result.version) return;
        socket.close();
        if (String(reply.code) === '200' && reply.responseObject) resolve(reply.responseObject);
        else reject(new Error(reply.message || 'NCALayer refused'));
      };
      socket.onerror = function () { reject(new Error('NCALayer is not reachable')); };
    });
  }

  if (!window.kezekNcaLayer) window.kezekNcaLayer = { sign: ncaLayerSign };

  function start() {
    var form = document.getElementById('eds-login');
    if (!form) return;
    var error = document.getElementById('eds-error');
    form.hidden = false;
    form.addEventListener('submit', function (event) {
      if (form.elements.signature.value) return;
      event.preventDefault();
      error.hidden = true;
      fetch('/api/v1/auth/eds/challenge', { method: 'POST' })
        .then(function (r) {
          if (!r.ok) throw new Error('challenge ' + r.status);
          return r.json();
        })
        .then(function (c) {
          form.elements.challenge.value = c.challenge;
          // The challenge is ASCII, so btoa gives the base64 of its UTF-8 bytes.
          return window.kezekNcaLayer.sign(btoa(c.challenge));
        })
        .then(function (signature) {
          form.elements.signature.value = signature;
          form.submit();
        })
        .catch(function () {
          error.textContent = error.dataset.failed;
          error.hidden = false;
          error.focus();
        });
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
