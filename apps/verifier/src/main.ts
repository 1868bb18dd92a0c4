/** lse-verifier: consumes lse.synth.fetched, checks signatures, trust, digests and tar policy of every fragment. */
import { runStageService } from '@lse/service';

void runStageService('verifier');
