package org.xraydl.report;

import org.xraydl.evaluate.Metrics;

import java.util.Locale;

/** The metrics table printed at the end of train and evaluate. */
public final class ConsoleTable {

    private ConsoleTable() {
    }

    public static String metrics(String title, Metrics m) {
        StringBuilder sb = new StringBuilder();
        sb.append(title).append(" (n = ").append(m.n()).append(", positive class = ").append(m.positive())
                .append(String.format(Locale.ROOT, ", positive when p >= %.4f)%n", m.threshold()));
        String line = "+-------------+--------+-----------------+\n";
        sb.append(line);
        sb.append(String.format(Locale.ROOT, "| %-11s | %6s | %-15s |%n", "metric", "value", "95% CI"));
        sb.append(line);
        row(sb, "accuracy", m.accuracy(), ci(m, "accuracy"));
        row(sb, "sensitivity", m.sensitivity(), ci(m, "sensitivity"));
        row(sb, "specificity", m.specificity(), ci(m, "specificity"));
        row(sb, "precision", m.precision(), ci(m, "precision"));
        row(sb, "f1", m.f1(), null);
        row(sb, "roc auc", m.auc(), ci(m, "auc"));
        row(sb, "loss", m.loss(), null);
        row(sb, "ece", m.ece(), null);
        sb.append(line);
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

    private static void row(StringBuilder sb, String name, double v, double[] ci) {
        String interval = ci == null || Double.isNaN(ci[0]) ? "" : String.format(Locale.ROOT, "%.3f - %.3f", ci[0], ci[1]);
        sb.append(String.format(Locale.ROOT, "| %-11s | %6s | %-15s |%n", name, Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.4f", v), interval));
    }

    private static double[] ci(Metrics m, String key) {
        return m.ci95() == null ? null : m.ci95().get(key);
    }
}
