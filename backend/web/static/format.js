// Numbers and times for people: thousand separators, the value's own precision, relative times
// with the UTC time on hover. Decimal strings from the API are formatted as strings (never through
// a float) so a quantity shows exactly the digits the exchange accepted.

const locale = undefined; // the browser's
const group = new Intl.NumberFormat(locale).formatToParts(12345.6);
const DECIMAL = group.find((p) => p.type === 'decimal')?.value || '.';

export function decimal(value, { maxDigits = 8, minDigits = 0 } = {}) {
  if (value === null || value === undefined || value === '') return '—';
  const text = String(value).trim();
  if (!/^-?\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    return Number.isFinite(n) ? n.toLocaleString(locale, { maximumFractionDigits: maxDigits }) : text;
  }
  const negative = text.startsWith('-');
  let [int, frac = ''] = text.replace('-', '').split('.');
  if (frac.length > maxDigits) {
    const rounded = Number(text).toFixed(maxDigits);
    [int, frac] = rounded.replace('-', '').split('.');
  }
  frac = frac.replace(/0+$/, '').padEnd(minDigits, '0');
  const whole = BigInt(int).toLocaleString(locale);
  const sign = negative && (/[1-9]/.test(int) || /[1-9]/.test(frac)) ? '−' : '';
  return sign + whole + (frac ? DECIMAL + frac : '');
}

export function money(value, asset = '') {
  if (value === null || value === undefined) return '—';
  const text = decimal(value, { maxDigits: 2, minDigits: 2 });
  return asset ? `${text} ${asset}` : text;
}

export function signed(value, asset = '') {
  const n = Number(value);
  const text = money(value, asset);
  return n > 0 ? `+${text}` : text;
}

export function pct(ratio, digits = 2) {
  if (ratio === null || ratio === undefined || ratio === '') return '—';
  return Number(ratio).toLocaleString(locale, { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fixed(value, digits = 3) {
  if (value === null || value === undefined) return '—';
  return Number(value).toLocaleString(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function seconds(value) {
  if (value === null || value === undefined) return '—';
  const s = Number(value);
  if (s < 1) return `${Math.round(s * 1000).toLocaleString(locale)} ms`;
  if (s < 120) return `${s.toLocaleString(locale, { maximumFractionDigits: 1 })} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toLocaleString(locale, { maximumFractionDigits: 1 })} h`;
  return `${(s / 86400).toLocaleString(locale, { maximumFractionDigits: 1 })} d`;
}

const relative = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
const STEPS = [['second', 60], ['minute', 60], ['hour', 24], ['day', 30], ['month', 12], ['year', Infinity]];

export function ago(date, now = Date.now()) {
  let amount = (date.getTime() - now) / 1000;
  for (const [unit, size] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return '';
}

export function utc(date) {
  return `${date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
}

// <time> with a relative text, kept fresh by refreshTimes(); the exact UTC time is its title.
export function when(iso) {
  if (!iso) return document.createTextNode('—');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return document.createTextNode(String(iso));
  const el = document.createElement('time');
  el.dateTime = date.toISOString();
  el.title = utc(date);
  el.textContent = ago(date);
  return el;
}

export function refreshTimes(root = document) {
  for (const el of root.querySelectorAll('time[datetime]')) el.textContent = ago(new Date(el.dateTime));
}
