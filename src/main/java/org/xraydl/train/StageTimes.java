package org.xraydl.train;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Where one epoch's wall time went, measured on the training thread: waiting for the next batch
 * (decode, augment, normalise, or a prefetch queue), the rest of fit(), DL4J listener callbacks,
 * validation, checkpoint writes and charts. Written per epoch to {@code stage_times.csv}.
 */
public final class StageTimes {

    public enum Stage {
        DATA_WAIT, FIT, LISTENERS, VALIDATION, CHECKPOINT, CHARTS;

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public static final String CSV = "stage_times.csv";
    public static final String CSV_HEADER = "epoch,data_wait_s,fit_s,listeners_s,validation_s,checkpoint_s,charts_s,epoch_wall_s";

    // Atomic: listener callbacks of ParallelWrapper workers add from their own threads.
    private final AtomicLongArray nanos = new AtomicLongArray(Stage.values().length);

    /** Zero for a new epoch (one instance is shared by the listeners and iterators of a run). */
    public void reset() {
        for (int i = 0; i < nanos.length(); i++) {
            nanos.set(i, 0);
        }
    }

    public void add(Stage s, long ns) {
        nanos.addAndGet(s.ordinal(), ns);
    }

    public double seconds(Stage s) {
        return nanos.get(s.ordinal()) / 1e9;
    }

    /** Runs {@code r} and adds its wall time to {@code s}. */
    public void time(Stage s, Runnable r) {
        long t0 = System.nanoTime();
        try {
            r.run();
        } finally {
            add(s, System.nanoTime() - t0);
        }
    }

    /**
     * Sets {@link Stage#FIT} from the fit call's wall time: what the data wait and the listeners
     * (both measured inside fit) did not take.
     */
    public void fitCall(long fitWallNanos) {
        long rest = fitWallNanos - nanos.get(Stage.DATA_WAIT.ordinal()) - nanos.get(Stage.LISTENERS.ordinal());
        nanos.set(Stage.FIT.ordinal(), Math.max(0, rest));
    }

    public Map<String, Double> toMap() {
        Map<String, Double> m = new java.util.LinkedHashMap<>();
        for (Stage s : Stage.values()) {
            m.put(s.id() + "_s", seconds(s));
        }
        return m;
    }

    public String csvRow(int epoch, double epochWallSeconds) {
        StringBuilder sb = new StringBuilder().append(epoch);
        for (Stage s : Stage.values()) {
            sb.append(String.format(Locale.ROOT, ",%.3f", seconds(s)));
        }
        return sb.append(String.format(Locale.ROOT, ",%.3f", epochWallSeconds)).toString();
    }

    /** e.g. {@code stages: data wait 1.2 s, fit 10.3 s, listeners 0.4 s, ...}. */
    public String oneLine() {
        StringBuilder sb = new StringBuilder("stages:");
        for (Stage s : Stage.values()) {
            sb.append(String.format(Locale.ROOT, "%s %s %.2f s", s == Stage.DATA_WAIT ? "" : ",",
                    s.id().replace('_', ' '), seconds(s)));
        }
        return sb.toString();
    }

    /** Parses a {@link #CSV_HEADER} row back into stage seconds (key {@code <stage>_s}) plus epoch and wall time. */
    public static Map<String, Double> parseRow(String header, String row) {
        String[] h = header.split(",");
        String[] f = row.split(",");
        Map<String, Double> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < Math.min(h.length, f.length); i++) {
            m.put(h[i], Double.parseDouble(f[i]));
        }
        return m;
    }
}
