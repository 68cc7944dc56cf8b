/** The panel's "Figures" tab: the platform's delivery figures (GET /api/v1/figures) per
 * track, fetched again each time the panel refreshes (each burst of events, Refresh). */
import * as React from 'react';

import { GoldenpathApi } from './api';
import { ErrorBox, Loading, Problem, problemOf } from './components';
import {
  DURATION_KEYS,
  FIGURE_LABELS,
  FigureView,
  NO_DATA,
  PlatformFigures,
  tracksOf,
  TrackView,
  trackView
} from './figures';

export function FiguresView(props: {
  api: GoldenpathApi;
  /** the promotion path, for the order of the change failure rows */
  environments: string[] | null;
  /** changes each time the panel reloaded: the figures are fetched again */
  refreshed: number;
}): JSX.Element {
  const { api } = props;
  // undefined: not loaded yet; null: this server publishes no figures (404)
  const [figures, setFigures] = React.useState<PlatformFigures | null | undefined>(undefined);
  const [problem, setProblem] = React.useState<Problem | null>(null);
  const [retry, setRetry] = React.useState(0);
  React.useEffect(() => {
    let current = true;
    api.figures().then(
      f => { if (current) { setFigures(f); setProblem(null); } },
      error => { if (current) { setProblem(problemOf(error)); } });
    return () => { current = false; };
  }, [api, props.refreshed, retry]);

  const again = () => setRetry(r => r + 1);
  if (figures === undefined) {
    return problem
      ? <ErrorBox title="Cannot load the figures" problem={problem} onRetry={again} />
      : <Loading text="Loading the platform's figures…" />;
  }
  if (figures === null) {
    return (
      <div className="gp-empty gp-figures">
        This goldenpath server publishes no figures (GET /api/v1/figures): upgrade it to show
        them here.
      </div>
    );
  }
  const production = figures.production || 'production';
  const environments = props.environments ?? undefined;
  return (
    <div className="gp-figures" data-last-event={figures.last_event_id}>
      {problem && <ErrorBox title="Figures not refreshed" problem={problem} onRetry={again} />}
      <div className="gp-muted gp-figures-scope">
        From the audit trail, up to event #{figures.last_event_id}; production is{' '}
        <b>{production}</b>.
      </div>
      {tracksOf(figures).map(track => (
        <TrackFigures key={track} view={trackView(figures, track, environments)}
          production={production} />
      ))}
    </div>
  );
}

function TrackFigures(props: { view: TrackView; production: string }): JSX.Element {
  const { view: v, production } = props;
  const id = `gp-figures-${v.track.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return (
    <section className="gp-figures-track" data-track={v.track} aria-labelledby={id}>
      <h3 id={id}>{v.title}</h3>
      <Figure name="change_failure" production={production}>
        <table className="gp-kv gp-figures-table">
          <tbody>
            {v.changeFailure.map(c => (
              <tr key={c.environment} data-env={c.environment}>
                <th scope="row">{c.environment}</th>
                <td><Value figure={c} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </Figure>
      {DURATION_KEYS.map(key => (
        <Figure key={key} name={key} production={production}>
          <Value figure={v.durations[key]} inline />
        </Figure>
      ))}
      <Figure name="production_releases" production={production}>
        {v.productionReleases.length === 0 ? (
          <div className="gp-figure-value gp-muted" data-value="">{NO_DATA}</div>
        ) : (
          <table className="gp-kv gp-figures-table">
            <tbody>
              {v.productionReleases.map(p => (
                <tr key={p.service} data-service={p.service}>
                  <th scope="row">{p.service}</th>
                  <td className="gp-figure-value" data-value={p.releases}>
                    {p.releases === 1 ? '1 release' : `${p.releases} releases`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Figure>
      {v.autonomy && (
        <Figure name="model_autonomy" production={production}>
          <Value figure={v.autonomy} inline />
        </Figure>
      )}
      <Figure name="governance_compliance" production={production}>
        <Value figure={v.compliance} inline />
      </Figure>
    </section>
  );
}

/** A named figure with its definition as a tooltip: a group screen readers announce. */
function Figure(props: {
  name: keyof typeof FIGURE_LABELS;
  production: string;
  children: React.ReactNode;
}): JSX.Element {
  const { label, title } = FIGURE_LABELS[props.name];
  return (
    <div className="gp-figure" data-figure={props.name} role="group" aria-label={label}
      title={title(props.production)}>
      <div className="gp-figure-name">{label}</div>
      <div className="gp-figure-body">{props.children}</div>
    </div>
  );
}

/** A figure's value and the counts behind it (beside it, or below it). */
function Value({ figure, inline = false }: { figure: FigureView; inline?: boolean })
  : JSX.Element {
  const none = figure.value === null;
  return (
    <>
      <span className={`gp-figure-value${none ? ' gp-muted' : ''}`}
        data-value={none ? '' : String(figure.value)}>
        {figure.text}
      </span>
      {figure.counts && (
        <span className={`gp-figure-counts gp-muted${inline ? ' gp-inline' : ''}`}>
          {figure.counts}
        </span>
      )}
    </>
  );
}
