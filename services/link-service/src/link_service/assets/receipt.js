// The receipt's "Print or save this receipt" button: the browser's print dialog, which also
// saves as PDF. The button stays hidden where this script does not run.
(function () {
  'use strict';

  var button = document.getElementById('print-receipt');
  if (!button || typeof window.print !== 'function') {
    return;
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    window.print();
  });
})();
