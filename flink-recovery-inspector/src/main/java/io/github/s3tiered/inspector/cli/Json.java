package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CompatibilityIssue;
import io.github.s3tiered.inspector.DeepCheck;
import io.github.s3tiered.inspector.OperatorSummary;
import io.github.s3tiered.inspector.OrphanFile;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.RequestCount;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.rehearsal.FileProof;
import io.github.s3tiered.inspector.rehearsal.Proof;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;

/**
 * The JSON output, built field by field so that the schema documented in the module's README is
 * exactly what is printed (no accidental fields from records).
 */
final class Json {

    static final int SCHEMA_VERSION = 2;
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Json() {}

    static ObjectNode document(String command) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("schemaVersion", SCHEMA_VERSION);
        n.put("command", command);
        return n;
    }

    static ArrayNode array() {
        return MAPPER.createArrayNode();
    }

    static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    static String print(ObjectNode n) {
        try {
            return MAPPER.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static void time(ObjectNode n, String field, long millis) {
        if (millis > 0) {
            n.put(field, Instant.ofEpochMilli(millis).toString());
        } else {
            n.putNull(field);
        }
    }

    static ObjectNode validation(Validation v, boolean withFiles) {
        ObjectNode n = object();
        n.put("path", v.path().toString());
        n.put("kind", v.kind().name());
        if (v.checkpointId() >= 0) {
            n.put("checkpointId", v.checkpointId());
        } else {
            n.putNull("checkpointId");
        }
        n.put("verdict", v.verdict().name());
        n.put("outcome", v.outcome().name());
        n.put("restorable", v.restorable());
        n.put("reason", v.reason());
        time(n, "metadataTime", v.metadataTimestamp());
        n.put("metadataBytes", v.metadataBytes());
        n.put("referencedFiles", v.files().size());
        n.put("referencedBytes", v.referencedBytes());
        n.put("inlineHandles", v.inlineHandles());
        ArrayNode unsupported = n.putArray("unsupportedHandles");
        v.unsupportedHandles().forEach(unsupported::add);
        ArrayNode problems = n.putArray("problems");
        v.problems().forEach(p -> problems.add(problem(p)));
        if (v.deepCheck() == null) {
            n.putNull("deepCheck");
        } else {
            n.set("deepCheck", deepCheck(v.deepCheck()));
        }
        n.set("requests", requests(v.requests()));
        if (withFiles) {
            ArrayNode files = n.putArray("files");
            v.files().forEach(f -> files.add(file(f)));
        }
        return n;
    }

    static ObjectNode problem(Problem p) {
        ObjectNode n = object();
        n.put("verdict", p.verdict().name());
        if (p.file() == null) {
            n.putNull("file");
        } else {
            n.put("file", p.file());
        }
        n.put("reason", p.reason());
        return n;
    }

    static ObjectNode deepCheck(DeepCheck d) {
        ObjectNode n = object();
        n.put("filesRead", d.filesRead());
        n.put("bytesRead", d.bytesRead());
        n.put("checksumsMatched", d.checksumsMatched());
        n.put("checksumsMismatched", d.checksumsMismatched());
        n.put("checksumsNotRecorded", d.checksumsNotRecorded());
        n.put("fileSystemRecordsChecksums", d.fileSystemRecordsChecksums());
        n.put("staleLocalCopiesDropped", d.staleLocalCopiesDropped());
        ObjectNode proven = n.putObject("filesProven");
        for (Proof p : Proof.values()) {
            proven.put(p.name(), d.filesProven(p));
        }
        ArrayNode files = n.putArray("files");
        for (FileProof f : d.files()) {
            ObjectNode fn = files.addObject();
            fn.put("path", f.path());
            fn.put("proof", f.proof().name());
            fn.put("how", f.how());
        }
        ArrayNode notes = n.putArray("notes");
        d.notes().forEach(notes::add);
        n.put("summary", d.summary());
        return n;
    }

    static ObjectNode requests(RequestCount r) {
        ObjectNode n = object();
        n.put("total", r.total());
        n.put("listStatus", r.listStatus());
        n.put("getFileStatus", r.getFileStatus());
        n.put("open", r.open());
        n.put("checksumLookups", r.checksumLookups());
        n.put("delete", r.delete());
        return n;
    }

    static ObjectNode file(ReferencedFile f) {
        ObjectNode n = object();
        n.put("path", f.path().toString());
        n.put("size", f.minSize());
        n.put("exactSize", f.exactSize());
        ArrayNode kinds = n.putArray("kinds");
        f.kinds().forEach(kinds::add);
        ArrayNode ops = n.putArray("operators");
        f.operators().forEach(ops::add);
        return n;
    }

    static ObjectNode operator(OperatorSummary o) {
        ObjectNode n = object();
        n.put("operatorId", o.operatorId());
        n.put("uid", o.uid());
        n.put("name", o.name());
        n.put("parallelism", o.parallelism());
        n.put("maxParallelism", o.maxParallelism());
        n.put("subtasksWithState", o.subtasksWithState());
        ObjectNode sizes = n.putObject("stateBytes");
        sizes.put("managedKeyed", o.managedKeyedBytes());
        sizes.put("rawKeyed", o.rawKeyedBytes());
        sizes.put("managedOperator", o.managedOperatorBytes());
        sizes.put("rawOperator", o.rawOperatorBytes());
        sizes.put("channel", o.channelBytes());
        sizes.put("coordinator", o.coordinatorBytes());
        sizes.put("total", o.totalBytes());
        n.put("files", o.files());
        return n;
    }

    static ObjectNode issue(CompatibilityIssue i) {
        ObjectNode n = object();
        n.put("kind", i.kind().name());
        n.put("operatorId", i.operatorId());
        n.put("reason", i.reason());
        return n;
    }

    static ObjectNode orphan(OrphanFile o) {
        ObjectNode n = object();
        n.put("path", o.path().toString());
        n.put("kind", o.kind().name());
        n.put("bytes", o.bytes());
        time(n, "modificationTime", o.modificationTime());
        return n;
    }
}
