package org.xraydl.run;

import org.xraydl.UserError;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Brings a run folder left by a killed training back to one consistent state before it is resumed.
 *
 * <p>The end of an epoch writes last.zip first (atomically), then best.zip if the epoch was the
 * best, then the history row. last.zip is the truth: its provenance holds the number of completed
 * epochs ({@value #EPOCHS_COMPLETED}), the best epoch so far ({@value #BEST_EPOCH}) and the
 * history row of its own epoch ({@value #EPOCH_RECORD}), so a kill between the writes is repaired
 * here: history rows beyond last.zip are dropped, the one row last.zip has and history lacks is put
 * back, and best.zip is rewritten when last.zip is the best epoch.
 */
public final class RunRecovery {
    /** Provenance keys written with every checkpoint. */
    public static final String EPOCHS_COMPLETED = "epochsCompleted";
    public static final String BEST_EPOCH = "bestEpoch";
    public static final String EPOCH_RECORD = "epochRecord";

    private RunRecovery() {
    }

    /**
     * The history that matches last.zip: rows beyond its epoch are dropped, its own epoch's row is
     * restored if missing, and history.csv is rewritten (atomically) when anything changed, with
     * one line to {@code out} saying what.
     */
    public static List<EpochRecord> reconcileHistory(RunDirectory dir, Map<String, Object> lastProvenance, PrintStream out) {
        Path last = dir.resolve(RunDirectory.LAST);
        if (!(lastProvenance.get(EPOCHS_COMPLETED) instanceof Number n)) {
            throw new UserError(last + " does not record how many epochs it holds (written by an older version?): start a new run");
        }
        int zipEpochs = n.intValue();
        List<EpochRecord> history = new ArrayList<>(dir.readHistory());
        for (int i = 0; i < history.size(); i++) {
            if (history.get(i).epoch() != i + 1) {
                throw new UserError(dir.resolve(RunDirectory.HISTORY) + " row " + (i + 1) + " is epoch " + history.get(i).epoch()
                        + ", expected " + (i + 1) + ": the file was edited; restore it or start a new run");
            }
        }
        if (history.size() > zipEpochs) {
            int listed = history.size();
            history.subList(zipEpochs, listed).clear();
            dir.writeHistory(history);
            out.printf("history.csv listed %d epochs, %s holds %d: dropped epoch%s %s (the run was stopped between its end-of-epoch writes)%n",
                    listed, RunDirectory.LAST, zipEpochs, listed - zipEpochs > 1 ? "s" : "",
                    listed - zipEpochs > 1 ? (zipEpochs + 1) + "-" + listed : String.valueOf(listed));
        } else if (history.size() == zipEpochs - 1 && lastProvenance.get(EPOCH_RECORD) instanceof String row
                && EpochRecord.parse(row).epoch() == zipEpochs) {
            history.add(EpochRecord.parse(row));
            dir.writeHistory(history);
            out.printf("history.csv lacked epoch %d, which %s holds: restored its row from %s (the run was stopped between its end-of-epoch writes)%n",
                    zipEpochs, RunDirectory.LAST, RunDirectory.LAST);
        } else if (history.size() < zipEpochs) {
            throw new UserError(dir.resolve(RunDirectory.HISTORY) + " lists " + history.size() + " epochs but " + last + " holds "
                    + zipEpochs + ": the run folder was changed by hand; restore history.csv or start a new run");
        }
        return history;
    }

    /** True when last.zip is the run's best epoch, so best.zip must hold the same weights (it may lag after a kill). */
    public static boolean lastIsBest(Map<String, Object> lastProvenance) {
        return lastProvenance.get(BEST_EPOCH) instanceof Number b && lastProvenance.get(EPOCHS_COMPLETED) instanceof Number e
                && b.intValue() == e.intValue();
    }

    /**
     * Deletes temp files an interrupted write left in the run folder: {@code .<name>…tmp} from
     * {@link org.xraydl.AtomicFiles} and {@code zipfstmp…tmp} from the JDK's zip file system (used
     * to add entries to a model zip). Only safe while this training holds the folder's lock.
     */
    public static List<Path> removeTempFiles(RunDirectory dir, PrintStream out) {
        List<Path> stale;
        try (Stream<Path> entries = Files.list(dir.path())) {
            stale = entries.filter(RunRecovery::isTempFile).sorted().toList();
        } catch (IOException e) {
            throw new UserError("cannot list run folder " + dir.path() + ": " + e.getMessage());
        }
        for (Path p : stale) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                throw new UserError("cannot delete the stale temp file " + p + ": " + e.getMessage());
            }
        }
        if (!stale.isEmpty()) {
            out.printf("removed %d temp file%s left by an interrupted run: %s%n", stale.size(), stale.size() > 1 ? "s" : "",
                    String.join(", ", stale.stream().map(p -> p.getFileName().toString()).toList()));
        }
        return stale;
    }

    static boolean isTempFile(Path p) {
        String name = p.getFileName().toString();
        return name.endsWith(".tmp") && (name.startsWith(".") || name.startsWith("zipfstmp")) && Files.isRegularFile(p);
    }
}
