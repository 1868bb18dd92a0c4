/** lse-fetcher: consumes lse.synth.resolved, copies fragment blobs from the origin (GridFS) into the S3 cache. */
import { runStageService } from '@lse/service';

void runStageService('fetcher');
