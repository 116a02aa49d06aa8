package org.xraydl.explore;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A small table of strings for notebooks and tests: {@link #html()} for a notebook output,
 * {@link #markdown()} for markdown, {@link #toString()} for aligned plain text.
 */
public record Table(List<String> header, List<List<String>> rows) {

    public Table {
        header = List.copyOf(header);
        List<List<String>> copy = new ArrayList<>();
        for (List<String> r : rows) {
            if (r.size() != header.size()) {
                throw new IllegalArgumentException("row " + r + " has " + r.size() + " cells, header has " + header.size());
            }
            copy.add(List.copyOf(r));
        }
        rows = List.copyOf(copy);
    }

    public int size() {
        return rows.size();
    }

    /** The cell in {@code row} under the column named {@code column}. */
    public String get(int row, String column) {
        int c = header.indexOf(column);
        if (c < 0) {
            throw new IllegalArgumentException("no column " + column + " in " + header);
        }
        return rows.get(row).get(c);
    }

    /** The values of one column, top to bottom. */
    public List<String> column(String column) {
        int c = header.indexOf(column);
        if (c < 0) {
            throw new IllegalArgumentException("no column " + column + " in " + header);
        }
        return rows.stream().map(r -> r.get(c)).toList();
    }

    /** An HTML table (what the notebooks display: shown even in notebooks that are not trusted). */
    public String html() {
        return Html.table(this);
    }

    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append('|');
        header.forEach(h -> sb.append(' ').append(escape(h)).append(" |"));
        sb.append("\n|");
        header.forEach(h -> sb.append("---|"));
        sb.append('\n');
        for (List<String> r : rows) {
            sb.append('|');
            r.forEach(v -> sb.append(' ').append(escape(v)).append(" |"));
            sb.append('\n');
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        int[] w = new int[header.size()];
        for (int c = 0; c < w.length; c++) {
            w[c] = header.get(c).length();
            for (List<String> r : rows) {
                w[c] = Math.max(w[c], r.get(c).length());
            }
        }
        StringBuilder sb = new StringBuilder();
        line(sb, header, w);
        for (int c = 0; c < w.length; c++) {
            sb.append("-".repeat(w[c])).append(c + 1 < w.length ? "  " : "\n");
        }
        rows.forEach(r -> line(sb, r, w));
        return sb.toString();
    }

    private static void line(StringBuilder sb, List<String> cells, int[] w) {
        for (int c = 0; c < w.length; c++) {
            sb.append(String.format(Locale.ROOT, "%-" + w[c] + "s", cells.get(c)));
            sb.append(c + 1 < w.length ? "  " : "\n");
        }
    }

    private static String escape(String s) {
        return s.replace("|", "\\|").replace("\n", " ");
    }

    /** A number for a table cell: NaN as "n/a", integers without decimals, others with {@code decimals}. */
    public static String num(double v, int decimals) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return String.valueOf((long) v);
        }
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }
}
