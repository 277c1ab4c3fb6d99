// A Stripe.js stand-in for tests, served next to localstripe at /bookpay-test/v3/.
//
// It implements the part of the real Stripe.js v3 API that bookpay's pages call, with the
// same names, arguments and results:
//   Stripe(publishableKey), stripe.elements(), elements.create('card'), element.mount(),
//   element.on('change' | 'ready' | 'focus' | 'blur'), stripe.confirmCardPayment(),
//   stripe.createPaymentMethod().
// The Card Element renders plain inputs (number, MM / YY, CVC) inside the mount point, where
// real Stripe.js renders an iframe. Card data goes to the test-support endpoints of the
// localstripe wrapper (never to bookpay's services), which create the PaymentMethod in
// localstripe and confirm the PaymentIntent there. A card that needs 3-D Secure opens a dialog
// with "Complete authentication" and "Fail authentication", like Stripe's test cards do.
(function () {
  'use strict';

  var script = document.currentScript;
  var BASE = new URL('.', script ? script.src : window.location.href).href.replace(/\/$/, '');

  async function post(path, body) {
    // A "simple" cross-origin request (text/plain body): no CORS preflight needed.
    var response = await fetch(BASE + path, {method: 'POST', body: JSON.stringify(body)});
    var data = await response.json().catch(function () { return {}; });
    if (!response.ok && !data.error) {
      data = {error: {type: 'api_error', message: 'An unexpected error occurred.'}};
    }
    return data;
  }

  // --- card validation, with Stripe.js's own messages ------------------------------------

  function digits(value) {
    return (value || '').replace(/\D/g, '');
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number[number.length - 1 - i]);
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function parseExpiry(value) {
    var m = (value || '').replace(/\s/g, '').match(/^(\d{1,2})\/?(\d{2})$/);
    if (!m) return null;
    return {month: Number(m[1]), year: 2000 + Number(m[2])};
  }

  function cardProblem(fields, strict) {
    var number = digits(fields.number.value);
    var expiry = parseExpiry(fields.expiry.value);
    var cvc = digits(fields.cvc.value);
    if (number.length < 16) {
      if (strict || number.length === 0) {
        return strict ? {code: 'incomplete_number', message: 'Your card number is incomplete.'} : null;
      }
      return null;
    }
    if (number.length > 19 || !luhn(number)) {
      return {code: 'invalid_number', message: 'Your card number is invalid.'};
    }
    if (!expiry) {
      return strict ? {code: 'incomplete_expiry', message: "Your card's expiration date is incomplete."} : null;
    }
    if (expiry.month < 1 || expiry.month > 12) {
      return {code: 'invalid_expiry_month', message: "Your card's expiration date is invalid."};
    }
    var now = new Date();
    if (expiry.year < now.getFullYear() ||
        (expiry.year === now.getFullYear() && expiry.month < now.getMonth() + 1)) {
      return {code: 'invalid_expiry_year_past', message: "Your card's expiration year is in the past."};
    }
    if (cvc.length < 3) {
      return strict ? {code: 'incomplete_cvc', message: "Your card's security code is incomplete."} : null;
    }
    return null;
  }

  // --- the Card Element -------------------------------------------------------------------

  function styleInput(input, width) {
    var s = input.style;
    s.border = '0';
    s.outline = 'none';
    s.font = 'inherit';
    s.fontSize = '16px';
    s.padding = '2px 0';
    s.background = 'transparent';
    s.color = 'inherit';
    s.minWidth = '0';
    s.flex = width;
  }

  function CardElement() {
    this._handlers = {};
    this._fields = null;
    this._root = null;
  }

  CardElement.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };

  CardElement.prototype.off = function (event, handler) {
    var list = this._handlers[event] || [];
    this._handlers[event] = handler ? list.filter(function (h) { return h !== handler; }) : [];
    return this;
  };

  CardElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).forEach(function (handler) { handler(payload); });
  };

  CardElement.prototype.mount = function (target) {
    var host = typeof target === 'string' ? document.querySelector(target) : target;
    if (!host) {
      throw new Error('IntegrationError: the element to mount the Card Element in was not found.');
    }
    var root = document.createElement('div');
    root.className = 'StripeElement StripeElement--test';
    root.style.display = 'flex';
    root.style.gap = '8px';
    root.style.alignItems = 'center';
    var make = function (name, label, placeholder, autocomplete, width) {
      var input = document.createElement('input');
      input.type = 'text';
      input.name = name;
      input.setAttribute('aria-label', label);
      input.placeholder = placeholder;
      input.autocomplete = autocomplete;
      input.inputMode = 'numeric';
      input.spellcheck = false;
      styleInput(input, width);
      root.appendChild(input);
      return input;
    };
    var fields = {
      number: make('cardnumber', 'Card number', '1234 1234 1234 1234', 'cc-number', '3 1 0'),
      expiry: make('exp-date', 'Expiration date (MM / YY)', 'MM / YY', 'cc-exp', '1 1 0'),
      cvc: make('cvc', 'Security code (CVC)', 'CVC', 'cc-csc', '1 1 0'),
    };
    var self = this;
    Object.keys(fields).forEach(function (key) {
      fields[key].addEventListener('input', function () { self._changed(false); });
      fields[key].addEventListener('blur', function () {
        self._changed(false);
        self._emit('blur', {elementType: 'card'});
      });
      fields[key].addEventListener('focus', function () { self._emit('focus', {elementType: 'card'}); });
    });
    host.appendChild(root);
    this._root = root;
    this._fields = fields;
    setTimeout(function () { self._emit('ready', {elementType: 'card'}); }, 0);
  };

  CardElement.prototype._changed = function (strict) {
    var f = this._fields;
    var empty = !f.number.value && !f.expiry.value && !f.cvc.value;
    var problem = cardProblem(f, strict);
    var complete = !problem && cardProblem(f, true) === null;
    var number = digits(f.number.value);
    this._emit('change', {
      elementType: 'card',
      empty: empty,
      complete: complete,
      brand: number[0] === '4' ? 'visa' : number[0] === '5' ? 'mastercard' : 'unknown',
      error: problem ? {type: 'validation_error', code: problem.code, message: problem.message} : undefined,
    });
  };

  CardElement.prototype._card = function () {
    if (!this._fields) {
      return {error: {type: 'validation_error', code: 'incomplete_number', message: 'Your card number is incomplete.'}};
    }
    var problem = cardProblem(this._fields, true);
    if (problem) {
      return {error: {type: 'validation_error', code: problem.code, message: problem.message}};
    }
    var expiry = parseExpiry(this._fields.expiry.value);
    return {
      card: {
        number: digits(this._fields.number.value),
        exp_month: expiry.month,
        exp_year: expiry.year,
        cvc: digits(this._fields.cvc.value),
      },
    };
  };

  CardElement.prototype.focus = function () { if (this._fields) this._fields.number.focus(); };
  CardElement.prototype.blur = function () { if (document.activeElement) document.activeElement.blur(); };
  CardElement.prototype.clear = function () {
    if (!this._fields) return;
    var f = this._fields;
    f.number.value = f.expiry.value = f.cvc.value = '';
  };
  CardElement.prototype.update = function () {};
  CardElement.prototype.unmount = function () {
    if (this._root && this._root.parentNode) this._root.parentNode.removeChild(this._root);
  };
  CardElement.prototype.destroy = CardElement.prototype.unmount;

  // --- the 3-D Secure step ----------------------------------------------------------------

  function authenticate() {
    return new Promise(function (resolve) {
      var backdrop = document.createElement('div');
      var s = backdrop.style;
      s.position = 'fixed';
      s.inset = '0';
      s.background = 'rgba(0, 0, 0, 0.55)';
      s.display = 'flex';
      s.alignItems = 'center';
      s.justifyContent = 'center';
      s.zIndex = '2147483647';
      var dialog = document.createElement('div');
      dialog.setAttribute('role', 'dialog');
      dialog.setAttribute('aria-modal', 'true');
      dialog.setAttribute('aria-label', '3D Secure authentication');
      dialog.style.background = '#fff';
      dialog.style.color = '#1a1a1a';
      dialog.style.padding = '24px';
      dialog.style.borderRadius = '8px';
      dialog.style.maxWidth = '22rem';
      var text = document.createElement('p');
      text.textContent = '3D Secure test payment: complete or fail the authentication.';
      dialog.appendChild(text);
      [['Complete authentication', true], ['Fail authentication', false]].forEach(function (choice) {
        var button = document.createElement('button');
        button.type = 'button';
        button.textContent = choice[0];
        button.style.margin = '4px';
        button.addEventListener('click', function () {
          document.body.removeChild(backdrop);
          resolve(choice[1]);
        });
        dialog.appendChild(button);
      });
      backdrop.appendChild(dialog);
      document.body.appendChild(backdrop);
      dialog.querySelector('button').focus();
    });
  }

  // --- Stripe ------------------------------------------------------------------------------

  function Stripe(publishableKey) {
    if (!(this instanceof Stripe)) {
      return new Stripe(publishableKey);
    }
    if (typeof publishableKey !== 'string' || publishableKey.indexOf('pk_') !== 0) {
      throw new Error('IntegrationError: Invalid value for Stripe(): apiKey should be a publishable key.');
    }
    this._key = publishableKey;
  }

  Stripe.prototype.elements = function () {
    var created = {};
    return {
      create: function (type) {
        if (type !== 'card') {
          throw new Error('IntegrationError: this Stripe.js stand-in only has the card Element.');
        }
        created.card = new CardElement();
        return created.card;
      },
      getElement: function (type) { return created[type] || null; },
    };
  };

  Stripe.prototype.createPaymentMethod = async function (typeOrData, element, extra) {
    var data = typeof typeOrData === 'string'
      ? Object.assign({type: typeOrData, card: element}, extra || {})
      : typeOrData;
    if (!data || data.type !== 'card' || !(data.card instanceof CardElement)) {
      return {error: {type: 'invalid_request_error', message: 'Expected a card Element.'}};
    }
    var card = data.card._card();
    if (card.error) return card;
    var result = await post('/payment_methods', {
      key: this._key,
      card: card.card,
      billing_details: data.billing_details || null,
    });
    return result.error ? {error: result.error} : {paymentMethod: result.payment_method};
  };

  Stripe.prototype.confirmCardPayment = async function (clientSecret, data) {
    var body = {key: this._key, client_secret: clientSecret};
    var method = data && data.payment_method;
    if (typeof method === 'string') {
      body.payment_method = method;
    } else if (method && method.card instanceof CardElement) {
      var card = method.card._card();
      if (card.error) return card;
      body.card = card.card;
      body.billing_details = method.billing_details || null;
    }
    var result = await post('/confirm', body);
    if (result.error) return {error: result.error};
    var intent = result.payment_intent;
    if (intent.status === 'requires_action') {
      var success = await authenticate();
      result = await post('/authenticate', {key: this._key, client_secret: clientSecret, success: success});
      if (result.error) return {error: result.error};
      intent = result.payment_intent;
    }
    return {paymentIntent: intent};
  };

  Stripe.prototype.retrievePaymentIntent = async function (clientSecret) {
    var result = await post('/retrieve', {key: this._key, client_secret: clientSecret});
    return result.error ? {error: result.error} : {paymentIntent: result.payment_intent};
  };

  window.Stripe = Stripe;
})();
