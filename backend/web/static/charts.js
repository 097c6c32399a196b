// Charts with plotly.js, served by the app from the installed plotly package and loaded only on the
// pages that draw one.

let loading;

export function plotly() {
  loading ||= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/ui/vendor/plotly.min.js';
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => reject(new Error('the chart library could not be loaded (is the plotly package installed?)'));
    document.head.append(script);
  });
  return loading;
}

const CONFIG = {
  displaylogo: false,
  responsive: true,
  showLink: false,
  showSendToCloud: false,
  modeBarButtonsToRemove: ['toImage', 'sendDataToCloud', 'select2d', 'lasso2d'],
};

function colours() {
  const css = getComputedStyle(document.documentElement);
  return { text: css.getPropertyValue('--text').trim(), grid: css.getPropertyValue('--line').trim() };
}

export async function draw(element, traces, layout = {}) {
  const Plotly = await plotly();
  const { text, grid } = colours();
  const axis = { gridcolor: grid, zerolinecolor: grid, linecolor: grid };
  await Plotly.react(element, traces, {
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: text, family: 'system-ui, sans-serif', size: 12 },
    margin: { l: 64, r: 16, t: 16, b: 40 },
    legend: { orientation: 'h', y: -0.15 },
    hovermode: 'x unified',
    xaxis: { ...axis, type: 'date' },
    yaxis: axis,
    yaxis2: axis,
    ...layout,
  }, CONFIG);
}
