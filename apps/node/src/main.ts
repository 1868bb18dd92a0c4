/** lse-node: containerd proxy snapshotter with the node fragment cache (docs/NODE.md). */
import { rootLogger } from '@lse/service';
import { startNodeAgent } from './run';

const log = rootLogger('node', process.env['LSE_LOG_LEVEL'] || 'info');
startNodeAgent(process.env, log).then(
  (agent) => {
    const stop = () => {
      void agent.close().then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (e: Error) => {
    log.error({ err: e.message }, 'lse-node could not start');
    process.exit(1);
  },
);
