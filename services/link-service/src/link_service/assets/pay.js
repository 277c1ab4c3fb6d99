// The payment page: card entry with Stripe.js (Card Element, confirmCardPayment).
// The amount and the bookings are on the server; this script only asks it for the link's
// PaymentIntent (saying whether to save the card), then confirms that PaymentIntent with the
// card through Stripe.js. The success page checks the result on the server.
(function () {
  'use strict';

  var form = document.getElementById('payment-form');
  if (!form || typeof window.Stripe !== 'function') {
    return;
  }
  var config = form.dataset;
  var button = document.getElementById('pay-button');
  var errorBox = document.getElementById('payment-error');
  var statusBox = document.getElementById('payment-status');
  var saveCard = document.getElementById('save-card');
  var buttonLabel = button.textContent;

  // The PaymentIntent is on the merchant's connected Stripe account (the link's).
  var stripe = window.Stripe(config.publishableKey, {stripeAccount: config.stripeAccount});
  var card = stripe.elements().create('card', {hidePostalCode: true});
  card.mount('#card-element');
  card.on('change', function (event) {
    showError(event.error ? event.error.message : '');
  });

  var submitting = false;

  function showError(message) {
    errorBox.textContent = message || '';
  }

  function setSubmitting(on) {
    submitting = on;
    button.disabled = on;
    button.setAttribute('aria-busy', on ? 'true' : 'false');
    button.textContent = on ? 'Processing…' : buttonLabel;
    statusBox.textContent = on ? 'Processing your payment, please wait.' : '';
  }

  function finished() {
    statusBox.textContent = 'Payment complete. Loading your confirmation…';
    window.location.assign(config.successUrl);
  }

  async function startPayment() {
    var response = await fetch(config.paymentUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': config.csrf},
      body: JSON.stringify({save_card: saveCard ? saveCard.checked : false}),
    });
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      var problem = body.error || {};
      var error = new Error(problem.message || 'The payment could not be started. Please try again.');
      error.code = problem.code;
      throw error;
    }
    return body;
  }

  form.addEventListener('submit', async function (event) {
    event.preventDefault();
    if (submitting) {
      return;
    }
    setSubmitting(true);
    showError('');
    try {
      var started = await startPayment();
      if (started.status === 'succeeded' || started.status === 'processing') {
        finished();
        return;
      }
      var billing = config.customerName ? {name: config.customerName} : {};
      var result = await stripe.confirmCardPayment(started.client_secret, {
        payment_method: {card: card, billing_details: billing},
      });
      if (result.error) {
        var intent = result.error.payment_intent;
        if (intent && (intent.status === 'succeeded' || intent.status === 'processing')) {
          finished();
          return;
        }
        showError(result.error.message || 'The payment could not be completed. Please try again.');
        setSubmitting(false);
        return;
      }
      finished();
    } catch (err) {
      if (err.code === 'paid') {
        finished();  // paid meanwhile, in another tab: show the confirmation
        return;
      }
      if (err.code === 'expired' || err.code === 'cancelled') {
        window.location.reload();
        return;
      }
      if (err.code === 'paid_elsewhere') {
        setSubmitting(false);
        button.disabled = true;  // nothing to pay through this link now
        showError(err.message);
        return;
      }
      showError(err.message || 'The payment could not be completed. Please try again.');
      setSubmitting(false);
    }
  });
})();
