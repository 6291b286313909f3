/**
 * A route's path pattern (find-my-way's syntax, as services declare it) as OpenAPI path
 * templates: `:id` becomes `{id}`, `:id(^\d+)` becomes `{id}` with its pattern, `::` a literal
 * colon, a wildcard `*` the parameter `{*}` (the name the router gives its value), and a last
 * optional parameter (`/users/:id?`) two templates, one without it (`/users`) and one with it.
 */

export interface PathParameter {
  name: string;
  /** The regular expression of a `:name(…)` parameter. */
  pattern?: string;
}

export interface PathTemplate {
  template: string;
  params: PathParameter[];
}

/** Characters that end a parameter's name in find-my-way: `/`, `-`, `.` and `(`. */
const NAME_END = new Set(['/', '-', '.', '(']);

/** The templates of one path pattern (two for a last optional parameter, else one). */
export function templatesOf(path: string): PathTemplate[] {
  const optional = /\/:[^/]*\?$/.exec(path);
  if (optional === null) return [templateOf(path)];
  const without = path.slice(0, optional.index);
  return [templateOf(without === '' ? '/' : without), templateOf(path.slice(0, -1))];
}

function templateOf(path: string): PathTemplate {
  let template = '';
  const params: PathParameter[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i] as string;
    if (c === ':' && path[i + 1] === ':') {
      template += ':';
      i += 2;
      continue;
    }
    if (c === '*') {
      template += '{*}';
      params.push({ name: '*' });
      i += 1;
      continue;
    }
    if (c !== ':') {
      template += c;
      i += 1;
      continue;
    }
    let j = i + 1;
    while (j < path.length && !NAME_END.has(path[j] as string)) j++;
    const param: PathParameter = { name: path.slice(i + 1, j) };
    if (path[j] === '(') {
      // The regular expression runs to its matching parenthesis.
      let depth = 0;
      let k = j;
      for (; k < path.length; k++) {
        if (path[k] === '\\') k++;
        else if (path[k] === '(') depth++;
        else if (path[k] === ')' && --depth === 0) break;
      }
      param.pattern = path.slice(j + 1, k);
      j = k + 1;
    }
    template += `{${param.name}}`;
    params.push(param);
    i = j;
  }
  return { template, params };
}
