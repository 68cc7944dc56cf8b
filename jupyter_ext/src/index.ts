/** goldenpath-jupyter: the "Deployments" sidebar plugin. */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { GoldenpathApi } from './api';
import { reportId } from './drift';
import { DriftReport } from './driftview';
import { DeploymentsPanel } from './panel';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 3 6.5v11L12 22l9-4.5v-11L12 2Zm0 2.2 6.6 3.3L12 10.8 5.4 7.5 12 4.2ZM5 9.1l6 3v7.6l-6-3V9.1Zm8 10.6v-7.6l6-3v7.6l-6 3Z"/>
  </g>
</svg>`;

export const goldenpathIcon = new LabIcon({ name: 'goldenpath:deployments', svgstr: ICON_SVG });

export const PANEL_ID = 'goldenpath-deployments';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'goldenpath-jupyter:plugin',
  description: 'A Deployments sidebar for the goldenpath promotion server.',
  autoStart: true,
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const api = new GoldenpathApi();
    // a deployment's drift report in a main-area tab: one per deployment, reused
    const reports = new Map<string, DriftReport>();
    const openReport = (service: string, environment: string, window: number) => {
      const id = reportId(service, environment);
      let report = reports.get(id);
      if (!report || report.isDisposed) {
        report = new DriftReport(api, service, environment);
        reports.set(id, report);
        app.shell.add(report, 'main');
      }
      void report.load(window);
      app.shell.activateById(id);
    };
    const panel = new DeploymentsPanel({
      kernel: () => notebooks?.currentWidget?.sessionContext.session?.kernel ?? null,
      notebook: () => notebooks?.currentWidget?.title.label ?? ''
    }, openReport, api);
    panel.id = PANEL_ID;
    panel.title.icon = goldenpathIcon;
    panel.title.caption = 'Deployments';
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, PANEL_ID);
    app.commands.addCommand('goldenpath:open-deployments', {
      label: 'Show Deployments (goldenpath)',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({ command: 'goldenpath:open-deployments', category: 'goldenpath' });
  }
};

export default plugin;
