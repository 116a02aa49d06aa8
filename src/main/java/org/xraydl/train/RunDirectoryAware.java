package org.xraydl.train;

import org.xraydl.run.RunDirectory;

/**
 * Implemented by a listener or epoch observer given to {@link Trainer#train} that needs the run folder
 * (e.g. the UI's StatsListener, which saves stats.dl4j there). {@link Trainer} calls it once, after it
 * has made (or, on --resume, reopened) the folder and before the first epoch.
 */
public interface RunDirectoryAware {
    void runDirectoryReady(RunDirectory dir);
}
