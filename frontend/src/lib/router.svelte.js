// Hash routing: #/live, #/analysis (the latest run), #/analysis/ID and its
// older form #/run/ID, #/history, #/tradeoff, #/compare?ids=a,b, #/machine,
// #/help.
export function parseRoute(hash) {
  const h = (hash || '').replace(/^#/, '') || '/live';
  const [path, query = ''] = h.split('?');
  const params = Object.fromEntries(new URLSearchParams(query));
  const parts = path.split('/').filter(Boolean);
  switch (parts[0]) {
    case 'run':
    case 'analysis':
      return { name: 'analysis', id: decodeURIComponent(parts[1] ?? ''), params };
    case 'tradeoff':
      return { name: 'tradeoff', params };
    case 'help':
      return { name: 'help', params };
    case 'history':
      return { name: 'history', params };
    case 'compare':
      return { name: 'compare', ids: (params.ids ?? '').split(',').filter(Boolean), params };
    case 'machine':
      return { name: 'machine', params };
    case 'live':
      return { name: 'live', params };
    default:
      return { name: 'notfound', path, params };
  }
}

export class Router {
  route = $state(parseRoute(typeof location !== 'undefined' ? location.hash : ''));
  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('hashchange', () => {
        this.route = parseRoute(location.hash);
      });
    }
  }
}

export function go(hash) {
  location.hash = hash;
}
