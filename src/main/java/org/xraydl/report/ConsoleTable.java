package org.xraydl.report;

import org.xraydl.evaluate.Metrics;

import java.util.Locale;

/** The metrics table printed at the end of train and evaluate. */
public final class ConsoleTable {

    private ConsoleTable() {
    }

    public static String metrics(String title, Metrics m) {
        StringBuilder sb = new StringBuilder();
        sb.append(title).append(" (n = ").append(m.n()).append(", positive class = ").append(m.positive()).append(")\n");
        sb.append("+-------------+--------+\n");
        row(sb, "accuracy", m.accuracy());
        row(sb, "sensitivity", m.sensitivity());
        row(sb, "specificity", m.specificity());
        row(sb, "precision", m.precision());
        row(sb, "f1", m.f1());
        row(sb, "roc auc", m.auc());
        row(sb, "loss", m.loss());
        sb.append("+-------------+--------+\n");
        int w = 4;
        for (String l : m.labels()) {
            w = Math.max(w, l.length());
        }
        String fmt = "%-" + (w + 8) + "s";
        sb.append("confusion (rows = true, columns = predicted)\n");
        sb.append(String.format(Locale.ROOT, fmt, ""));
        for (String l : m.labels()) {
            sb.append(String.format(Locale.ROOT, "%" + (w + 2) + "s", l));
        }
        sb.append('\n');
        for (int t = 0; t < m.labels().size(); t++) {
            sb.append(String.format(Locale.ROOT, fmt, "true " + m.labels().get(t)));
            for (int p = 0; p < m.labels().size(); p++) {
                sb.append(String.format(Locale.ROOT, "%" + (w + 2) + "d", m.confusion()[t][p]));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static void row(StringBuilder sb, String name, double v) {
        sb.append(String.format(Locale.ROOT, "| %-11s | %6s |%n", name, Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.4f", v)));
    }
}
