// Staff card-entry page: Stripe.js tokenizes the card in the browser; our API charges it.
(function () {
  "use strict";
  const form = document.getElementById("charge-form");
  const button = document.getElementById("charge-button");
  const outcome = document.getElementById("outcome");
  const saveBox = document.getElementById("save-card");
  const d = form.dataset;
  const base = "/v1/accounts/" + d.accountId;
  // The card is made on the account's connected Stripe account, where it is charged.
  const stripe = Stripe(d.publishableKey, { stripeAccount: d.stripeAccount });
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  let busy = false;
  let failedBefore = false;

  function show(text, kind) {
    outcome.textContent = text;
    outcome.className = kind || "";
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((data.error && data.error.message) || "The request was refused (" + response.status + ").");
    }
    return data;
  }

  async function waitForOutcome() {
    for (let i = 0; i < 120; i++) {
      const response = await fetch(base + "/charges/" + d.chargeId);
      if (response.ok) {
        const charge = await response.json();
        if (charge.status === "succeeded" || charge.status === "failed") return charge;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error("No answer yet; check the charge's status before trying again.");
  }

  function report(charge) {
    if (charge.status === "succeeded") {
      const saved = charge.saved_payment_method_id ? " The card was saved to the customer's profile." : "";
      show("Payment of " + d.total + " succeeded." + saved + " ", "succeeded");
      const link = document.createElement("a");
      link.href = base + "/charges/" + d.chargeId;
      link.textContent = "See the charge";
      outcome.appendChild(link);
      button.textContent = "Paid " + d.total;
      return true;
    }
    const reason = charge.failure ? charge.failure.message : "The payment failed.";
    show(reason + " You can try another card.", "failed");
    failedBefore = true;
    return false;
  }

  async function charge(paymentMethodId) {
    const save = saveBox.checked;
    const consent = save ? d.consent : null;
    if (failedBefore) {
      return postJson(base + "/charges/" + d.chargeId + "/attempts", {
        payment_method_id: paymentMethodId, save_card: save, save_card_consent: consent,
      });
    }
    await postJson(base + "/charges", {
      charge_id: d.chargeId,
      customer_id: d.customerId,
      booking_ids: d.bookingIds.split(","),
      amount: Number(d.amount),
      currency: d.currency,
      method: "new_card",
      payment_method_id: paymentMethodId,
      save_card: save,
      save_card_consent: consent,
    });
    return waitForOutcome();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (busy) return;
    busy = true;
    button.disabled = true;
    show("Charging the card…");
    let done = false;
    try {
      const result = await stripe.createPaymentMethod({ type: "card", card: card });
      if (result.error) {
        show(result.error.message || "The card details are not valid.", "failed");
      } else {
        done = report(await charge(result.paymentMethod.id));
      }
    } catch (error) {
      show(error.message, "failed");
    } finally {
      busy = false;
      button.disabled = done;
    }
  });
})();
