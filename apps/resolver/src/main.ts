/** lse-resolver: consumes lse.synth.requested, resolves manifests against the fragment database, publishes the lock. */
import { runStageService } from '@lse/service';

void runStageService('resolver');
