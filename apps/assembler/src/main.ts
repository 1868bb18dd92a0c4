/** lse-assembler: consumes lse.synth.verified, builds layers, config and manifest into the S3 layer cache. */
import { runStageService } from '@lse/service';

void runStageService('assembler');
