package io.github.s3tiered.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProxiedRequestTest {

    private static ProxiedRequest req(String method, String target, String... headerPairs) {
        Map<String, List<String>> headers = new java.util.LinkedHashMap<>();
        for (int i = 0; i < headerPairs.length; i += 2) {
            headers.put(headerPairs[i], List.of(headerPairs[i + 1]));
        }
        return ProxiedRequest.of(method, target, headers);
    }

    @Test
    void classifiesPathStyleRequests() {
        assertThat(req("PUT", "/b/dir/obj").operation()).isEqualTo(S3Operation.PUT_OBJECT);
        assertThat(req("PUT", "/b/dir/obj?partNumber=3&uploadId=xyz").operation()).isEqualTo(S3Operation.UPLOAD_PART);
        assertThat(req("PUT", "/b/dir/obj?uploadId=xyz&partNumber=3").operation()).isEqualTo(S3Operation.UPLOAD_PART);
        assertThat(req("POST", "/b/dir/obj?uploads").operation()).isEqualTo(S3Operation.CREATE_MULTIPART_UPLOAD);
        assertThat(req("POST", "/b/dir/obj?uploads=").operation()).isEqualTo(S3Operation.CREATE_MULTIPART_UPLOAD);
        assertThat(req("POST", "/b/dir/obj?uploadId=xyz").operation()).isEqualTo(S3Operation.COMPLETE_MULTIPART_UPLOAD);
        assertThat(req("DELETE", "/b/dir/obj?uploadId=xyz").operation()).isEqualTo(S3Operation.ABORT_MULTIPART_UPLOAD);
        assertThat(req("GET", "/b/dir/obj").operation()).isEqualTo(S3Operation.GET_OBJECT);
        assertThat(req("GET", "/b/dir/obj", "Range", "bytes=0-9").operation()).isEqualTo(S3Operation.GET_OBJECT_RANGE);
        assertThat(req("GET", "/b/dir/obj", "range", "bytes=0-9").operation()).isEqualTo(S3Operation.GET_OBJECT_RANGE);
        assertThat(req("HEAD", "/b/dir/obj").operation()).isEqualTo(S3Operation.HEAD_OBJECT);
        assertThat(req("GET", "/b?list-type=2&prefix=dir%2F").operation()).isEqualTo(S3Operation.LIST_OBJECTS);
        assertThat(req("GET", "/b/?prefix=dir/&delimiter=/").operation()).isEqualTo(S3Operation.LIST_OBJECTS);
        assertThat(req("GET", "/b").operation()).isEqualTo(S3Operation.LIST_OBJECTS);
        assertThat(req("DELETE", "/b/dir/obj").operation()).isEqualTo(S3Operation.DELETE_OBJECT);
        assertThat(req("POST", "/b?delete").operation()).isEqualTo(S3Operation.DELETE_OBJECTS);
        assertThat(req("POST", "/b/?delete=").operation()).isEqualTo(S3Operation.DELETE_OBJECTS);
    }

    @Test
    void everythingElseIsOther() {
        assertThat(req("GET", "/").operation()).isEqualTo(S3Operation.OTHER);             // ListBuckets
        assertThat(req("PUT", "/b").operation()).isEqualTo(S3Operation.OTHER);            // CreateBucket
        assertThat(req("HEAD", "/b").operation()).isEqualTo(S3Operation.OTHER);           // HeadBucket
        assertThat(req("DELETE", "/b").operation()).isEqualTo(S3Operation.OTHER);         // DeleteBucket
        assertThat(req("GET", "/b?location").operation()).isEqualTo(S3Operation.OTHER);
        assertThat(req("GET", "/b?uploads").operation()).isEqualTo(S3Operation.OTHER);    // ListMultipartUploads
        assertThat(req("GET", "/b/k?uploadId=x").operation()).isEqualTo(S3Operation.OTHER); // ListParts
        assertThat(req("PUT", "/b/k?tagging").operation()).isEqualTo(S3Operation.OTHER);
        assertThat(req("GET", "/b/k?acl").operation()).isEqualTo(S3Operation.OTHER);
        assertThat(req("POST", "/b/k").operation()).isEqualTo(S3Operation.OTHER);
        assertThat(req("OPTIONS", "/b/k").operation()).isEqualTo(S3Operation.OTHER);
    }

    @Test
    void decodesBucketKeyAndQuery() {
        ProxiedRequest put = req("PUT", "/my-bucket/chk%2D1/a%20b%2Bc/%C3%A9t%C3%A9+x?partNumber=2&uploadId=u%2F1");
        assertThat(put.bucket()).isEqualTo("my-bucket");
        assertThat(put.key()).isEqualTo("chk-1/a b+c/été+x");
        assertThat(put.path()).isEqualTo("/my-bucket/chk-1/a b+c/été+x");
        assertThat(put.queryParameter("uploadId")).isEqualTo("u/1");
        assertThat(put.queryParameter("partNumber")).isEqualTo("2");
        assertThat(put.queryParameter("nope")).isNull();
        assertThat(put.method()).isEqualTo("PUT");

        ProxiedRequest list = req("GET", "/b?list-type=2&prefix=jobs%2Fchk-7%2F");
        assertThat(list.key()).as("a listing exposes its prefix as key").isEqualTo("jobs/chk-7/");
        assertThat(req("POST", "/b?delete").key()).isEmpty();

        ProxiedRequest absolute = req("GET", "http://127.0.0.1:9000/b/k/x?versionId=3");
        assertThat(absolute.operation()).isEqualTo(S3Operation.GET_OBJECT);
        assertThat(absolute.key()).isEqualTo("k/x");
        assertThat(absolute.header("RANGE")).isNull();
        assertThat(req("get", "/b/k", "Content-Type", "text/plain").header("content-type")).isEqualTo("text/plain");
    }

    @Test
    void ruleMatchingByOperationKeyAndPredicate() {
        FaultRule rule = FaultRule.on(S3Operation.GET_OBJECT, S3Operation.GET_OBJECT_RANGE)
                .keyMatching(".*/_metadata").slowDown();
        assertThat(rule.matches(req("GET", "/b/chk-1/_metadata"))).isTrue();
        assertThat(rule.matches(req("GET", "/b/chk-1/_metadata", "Range", "bytes=0-1"))).isTrue();
        assertThat(rule.matches(req("HEAD", "/b/chk-1/_metadata"))).isFalse();
        assertThat(rule.matches(req("GET", "/b/chk-1/_metadata.tmp"))).isFalse();
        FaultRule any = FaultRule.onAny().matching(r -> r.bucket().equals("b2")).resetWithoutForwarding();
        assertThat(any.matches(req("PUT", "/b2/x"))).isTrue();
        assertThat(any.matches(req("PUT", "/b/x"))).isFalse();
    }
}
