// Electronic digital signatures in the browser, through NCALayer: signing in (a one-time
// challenge signed with the authentication key) and signing a queue registration on the portal
// (the exact bytes the server names, signed with the signing key). The pages work without this
// script: the login page keeps its password form, and the registration page says that a
// portal registration needs NCALayer and that an office can register the child instead.
//
// `window.kezekNcaLayer.sign(base64, keyType) -> Promise<base64 CMS>` is the only contact with
// NCALayer; browser tests define their own before this script runs. On a server that trusts its
// demo CA, the registration page also offers a labelled demo signer (POST /demo/eds/sign), which
// a server with configured national roots does not have.
(function () {
  'use strict';

  // NCALayer's WebSocket on the user's computer, legacy module kz.gov.pki.knca.commonUtils:
  // createCAdESFromBase64(storage, keyType, data, attached) replies {code: "200", responseObject}.
  function ncaLayerSign(base64, keyType) {
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
          args: ['PKCS12', keyType, base64, false],
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

  function showError(error) {
    error.textContent = error.dataset.failed;
    error.hidden = false;
    error.focus();
  }

  function postForm(url, fields) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
  }

  function startLogin() {
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
          return window.kezekNcaLayer.sign(btoa(c.challenge), 'AUTHENTICATION');
        })
        .then(function (signature) {
          form.elements.signature.value = signature;
          form.submit();
        })
        .catch(function () { showError(error); });
    });
  }

  // The registration form: the server gives the bytes to sign for the form as filled in (the
  // same function the API's signing-content endpoint runs), a signer signs them, and the form is
  // sent with the signature. When the server cannot name the bytes (a field is missing or wrong)
  // the form is sent unsigned, and the page that comes back lists what to correct.
  function startRegistration() {
    var form = document.getElementById('registration');
    if (!form || !form.dataset.signingContent) return;
    var error = document.getElementById('eds-error');
    var noScript = document.getElementById('eds-needs-script');
    if (noScript) noScript.hidden = true;

    function signAndSend(signer) {
      error.hidden = true;
      var fields = new FormData(form);
      fields.delete('signature');
      postForm(form.dataset.signingContent, fields)
        .then(function (r) {
          if (!r.ok) return null;
          return r.json();
        })
        .then(function (c) {
          if (!c || !c.signature_required) return '';
          return signer(c.content);
        })
        .then(function (signature) {
          form.elements.signature.value = signature;
          form.submit();
        })
        .catch(function () { showError(error); });
    }

    form.addEventListener('submit', function (event) {
      if (form.elements.signature.value) return;
      event.preventDefault();
      signAndSend(function (base64) { return window.kezekNcaLayer.sign(base64, 'SIGNATURE'); });
    });

    var demo = document.getElementById('demo-sign');
    if (demo) {
      document.getElementById('demo-signer').hidden = false;
      demo.addEventListener('click', function () {
        signAndSend(function (base64) {
          return postForm('/demo/eds/sign', { csrf: form.elements.csrf.value, content: base64 })
            .then(function (r) {
              if (!r.ok) throw new Error('demo signer ' + r.status);
              return r.json();
            })
            .then(function (s) { return s.signature; });
        });
      });
    }
  }

  function start() {
    startLogin();
    startRegistration();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
