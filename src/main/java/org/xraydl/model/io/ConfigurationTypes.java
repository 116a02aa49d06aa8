package org.xraydl.model.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import org.xraydl.UserError;

import java.io.IOException;
import java.util.regex.Pattern;

/**
 * Checks the Jackson type ids in a DL4J {@code configuration.json} before DL4J deserialises it.
 *
 * <p>DL4J's mappers resolve {@code "@class"} values with {@code Class.forName} and instantiate the
 * class, so a hand-edited configuration could make the loader build any class on the classpath
 * ({@code javax.script.ScriptEngineManager}, {@code java.net.URL}, …). Allowed: DL4J's, ND4J's and this
 * program's own packages. The check streams the tokens instead of building a tree, because with a
 * repeated key a tree keeps the last value while Jackson's type resolution reads the first.
 */
final class ConfigurationTypes {
    /** A type id DL4J may resolve: a plain class name (no generics, arrays or spaces) in an allowed package. */
    static final Pattern ALLOWED = Pattern.compile("(org\\.deeplearning4j|org\\.nd4j|org\\.xraydl)(\\.[A-Za-z_$][\\w$]*)+");
    /**
     * Anything else that looks like a qualified Java class name ({@code a.b.Name}), as a key or a value:
     * a type id in another shape (a wrapper object or array) than DL4J's {@code "@class"} property.
     */
    static final Pattern CLASS_LIKE = Pattern.compile("\\[*L?([a-z_$][\\w$]*\\.){2,}[A-Z][\\w$]*;?.*");

    private static final JsonFactory FACTORY = new JsonFactory();

    private ConfigurationTypes() {
    }

    /** Refuses, in one line naming the file, a configuration that names a class outside the allowed packages. */
    static void check(String zipName, String json) {
        try (JsonParser p = FACTORY.createParser(json)) {
            String field = null;
            for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
                if (t == JsonToken.FIELD_NAME) {
                    field = p.currentName();
                    if (CLASS_LIKE.matcher(field).matches() && !ALLOWED.matcher(field).matches()) {
                        throw refused(zipName, field);
                    }
                    continue;
                }
                boolean typeId = field != null && field.startsWith("@");
                if (typeId && t != JsonToken.VALUE_STRING) {
                    throw new UserError("model zip " + zipName + ": " + ModelZip.CONFIGURATION + " has a non-text type id '"
                            + field + "': refused (the file was edited); pass a model saved by DL4J or by this pipeline");
                }
                if (t == JsonToken.VALUE_STRING) {
                    String v = p.getText();
                    if (typeId ? !ALLOWED.matcher(v).matches() : CLASS_LIKE.matcher(v).matches() && !ALLOWED.matcher(v).matches()) {
                        throw refused(zipName, v);
                    }
                }
                field = null;
            }
        } catch (JsonProcessingException e) {
            throw new UserError("model zip " + zipName + ": " + ModelZip.CONFIGURATION + " is not valid JSON (line "
                    + e.getLocation().getLineNr() + "): the file is damaged; retrain, or pass another file");
        } catch (IOException e) {
            throw new UserError("model zip " + zipName + ": " + ModelZip.CONFIGURATION + " cannot be read (" + e.getMessage() + ")");
        }
    }

    private static UserError refused(String zipName, String className) {
        String shown = className.replaceAll("\\p{Cntrl}", "?");
        if (shown.length() > 120) {
            shown = shown.substring(0, 120) + "…";
        }
        return new UserError("model zip " + zipName + ": " + ModelZip.CONFIGURATION + " names the class '" + shown
                + "', outside DL4J, ND4J and this program (org.deeplearning4j., org.nd4j., org.xraydl.), which DL4J would"
                + " instantiate: refused; pass a model saved by DL4J or by this pipeline");
    }
}
