package org.xraydl.ui;

import io.vertx.ext.web.RoutingContext;

import java.util.Locale;

/**
 * First handler of every UI request: refuses, with 400 at once, any path that could step outside
 * the folder a route serves from, in its raw form or in any decoded form (decoded repeatedly until
 * it stops changing, so double-encoded {@code %252e%252e%252f} is caught too): {@code .} or
 * {@code ..} segments, empty segments ({@code //}, an absolute path after a prefix), backslashes,
 * NUL or other control characters, encoded slashes or backslashes, and malformed percent-encoding.
 * No page of the UI needs any of these. DL4J's own {@code /assets/*} handler followed {@code ..}
 * (issue 12), and an encoded slash hung the connection.
 */
final class RequestPathGuard {
    /** Enough for any real path; more rounds of encoding is itself a sign of an attack. */
    static final int MAX_DECODE_ROUNDS = 4;

    private RequestPathGuard() {
    }

    static void handle(RoutingContext rc) {
        String problem = problem(rc.request().path());
        if (problem == null) {
            rc.next();
            return;
        }
        rc.response().setStatusCode(400).putHeader("content-type", "text/plain; charset=utf-8")
                .putHeader("cache-control", "no-store").end("bad request path: " + problem + "\n");
    }

    /** Why {@code rawPath} (the request path as sent, before any decoding) is refused, or null if it is fine. */
    static String problem(String rawPath) {
        if (rawPath == null || !rawPath.startsWith("/")) {
            return "not an absolute path";
        }
        String s = rawPath;
        for (int round = 0; round <= MAX_DECODE_ROUNDS; round++) {
            String p = problemInForm(s);
            if (p != null) {
                return p;
            }
            String decoded = decode(s);
            if (decoded == null) {
                return "malformed percent-encoding";
            }
            if (decoded.equals(s)) {
                return null;
            }
            s = decoded;
        }
        return "encoded more than " + MAX_DECODE_ROUNDS + " times";
    }

    private static String problemInForm(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                return "control character";
            }
            if (c == '\\') {
                return "backslash";
            }
        }
        String lower = s.toLowerCase(Locale.ROOT);
        if (lower.contains("%2f") || lower.contains("%5c")) {
            return "encoded slash";
        }
        String[] segments = s.substring(1).split("/", -1);
        for (int i = 0; i < segments.length; i++) {
            String seg = segments[i];
            if (seg.equals("..") || seg.equals(".")) {
                return "dot segment";
            }
            // An empty segment is a double slash, except the one after a trailing slash (/run/).
            if (seg.isEmpty() && i < segments.length - 1) {
                return "empty segment";
            }
        }
        return null;
    }

    /** Percent-decodes once (UTF-8); null if a % is not followed by two hex digits or the bytes are not UTF-8. */
    static String decode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length()) {
                    return null;
                }
                int hi = Character.digit(s.charAt(i + 1), 16);
                int lo = Character.digit(s.charAt(i + 2), 16);
                if (hi < 0 || lo < 0) {
                    return null;
                }
                out.write(hi * 16 + lo);
                i += 2;
            } else {
                byte[] b = String.valueOf(c).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                out.write(b, 0, b.length);
            }
        }
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(out.toByteArray())).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            return null;
        }
    }
}
