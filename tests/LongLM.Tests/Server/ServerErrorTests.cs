#if LONGLM_SERVER
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using LongLM.Server;

namespace LongLM.Tests.Server;

/// <summary>
/// Bad requests to `longlm serve` over raw HTTP, on stories260K with TinyLlama-Chat's template (<see cref="ChatFixture"/>).
/// Expected values: the statuses and the error object {"error": {"message", "type", "param", "code"}} are OpenAI's API
/// (the server's contract); never a 500. The context limit is stories260K's max_position_embeddings, 512, under
/// vanilla attention (the message names --lm-infinite). /tokenize and /detokenize follow llama-server's shapes and must
/// agree with lm.Tokenizer (Encode / Decode).
/// </summary>
public sealed class ServerErrorTests
{
    private static string Chat(string messagesJson, string extra = "") =>
        $$"""{"model": "$MODEL", "messages": {{messagesJson}}{{extra}}}""";
    private const string OneUser = """[{"role": "user", "content": "Hi"}]""";

    public static TheoryData<string, string, int> BadRequests => new()
    {
        { "v1/chat/completions", "{not json", 400 },
        { "v1/chat/completions", "", 400 },
        { "v1/chat/completions", "[1, 2]", 400 },
        { "v1/chat/completions", """{"model": "$MODEL"}""", 400 },                     // no messages
        { "v1/chat/completions", Chat("[]"), 400 },                                     // empty messages
        { "v1/chat/completions", Chat("\"hello\""), 400 },                              // messages of the wrong type
        { "v1/chat/completions", Chat("""[{"role": "wizard", "content": "Hi"}]"""), 400 }, // unknown role
        { "v1/chat/completions", Chat("""[{"role": "user", "content": 5}]"""), 400 },   // content of the wrong type
        { "v1/chat/completions", Chat(OneUser, """, "temperature": "hot" """), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "temperature": -1"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "top_p": 2"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "max_tokens": 0"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "max_tokens": -5"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "max_tokens": 1e12"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "max_tokens": 10000000"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "max_completion_tokens": "many" """), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "n": 2"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "stream": "yes" """), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "stop": 7"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "seed": "abc" """), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "top_logprobs": -1, "logprobs": true"""), 400 },
        { "v1/chat/completions", Chat(OneUser, """, "x": 0"""), 200 }, // unknown fields are ignored
        { "v1/completions", "{\"model\": \"$MODEL\", \"prompt\": 5}", 400 },
        { "v1/completions", "{\"model\": \"$MODEL\", \"max_tokens\": 4}", 400 },                               // no prompt
        { "v1/completions", "{\"model\": \"$MODEL\", \"prompt\": \"Hi\", \"n\": 3}", 400 },
        { "v1/embeddings", "{\"model\": \"$MODEL\", \"input\": 5}", 400 },
        { "v1/embeddings", "{\"model\": \"$MODEL\"}", 400 },
        { "tokenize", "{\"content\": 5}", 400 },
        { "detokenize", "{\"tokens\": [\"a\"]}", 400 },
        { "detokenize", "{\"tokens\": [100000]}", 400 },                                // outside the vocabulary (512)
        { "detokenize", "{\"tokens\": [-1]}", 400 },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadInput_GetsItsStatusAndAnOpenAIErrorObject_NeverA500(string path, string body, int status)
    {
        await using var host = await ServerHost.StartAsync();
        using var response = await host.PostAsync(path, body.Replace("$MODEL", host.ModelId));
        Assert.NotEqual(HttpStatusCode.InternalServerError, response.StatusCode);
        if (status == 200)
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        else
            await ServerHost.AssertErrorAsync(response, status);
    }

    [Fact]
    public async Task UnknownModelName_Is404()
    {
        await using var host = await ServerHost.StartAsync();
        using var response = await host.PostAsync("v1/chat/completions", ServerHost.ChatBody("gpt-4o", "Hi", 4));
        var error = await ServerHost.AssertErrorAsync(response, 404);
        Assert.Contains("gpt-4o", (string?)error["message"]);
        using var completions = await host.PostAsync("v1/completions", """{"model": "gpt-4o", "prompt": "Hi", "max_tokens": 2}""");
        await ServerHost.AssertErrorAsync(completions, 404);
    }

    [Fact]
    public async Task PromptLongerThanTheContext_Is400_NamingLmInfinite()
    {
        await using var host = await ServerHost.StartAsync();
        string longText = string.Join(' ', Enumerable.Repeat("Once upon a time there was a little girl.", 200)); // far over 512 tokens
        Assert.True(host.Model.Tokenizer.Encode(longText).Length > 512);
        using var chat = await host.PostAsync("v1/chat/completions", host.ChatBody(longText, 4));
        Assert.Contains("--lm-infinite", (string?)(await ServerHost.AssertErrorAsync(chat, 400))["message"]);
        var body = new JsonObject { ["model"] = host.ModelId, ["prompt"] = longText, ["max_tokens"] = 4 }.ToJsonString();
        using var completion = await host.PostAsync("v1/completions", body);
        Assert.Contains("--lm-infinite", (string?)(await ServerHost.AssertErrorAsync(completion, 400))["message"]);
        using var streamed = await host.PostAsync("v1/chat/completions", host.ChatBody(longText, 4, stream: true));
        await ServerHost.AssertErrorAsync(streamed, 400); // refused before the stream starts, not an SSE error
    }

    [Fact]
    public async Task BodyOverMaxBodyBytes_Is413()
    {
        await using var host = await ServerHost.StartAsync(new ServerOptions { MaxBodyBytes = 4096 });
        string big = host.ChatBody(new string('a', 8192), 4);
        using var response = await host.PostAsync("v1/chat/completions", big);
        await ServerHost.AssertErrorAsync(response, 413);
        using var small = await host.PostAsync("v1/chat/completions", host.ChatBody("Hi", 2));
        Assert.True(small.IsSuccessStatusCode);
    }

    [Fact]
    public async Task ApiKey_IsRequiredWhenSet_401WithoutOrWrong_200WithIt()
    {
        await using var host = await ServerHost.StartAsync(new ServerOptions { ApiKey = "sekrit" });
        using (var none = await host.PostAsync("v1/chat/completions", host.ChatBody("Hi", 2)))
            await ServerHost.AssertErrorAsync(none, 401);
        foreach (var header in new[] { new AuthenticationHeaderValue("Bearer", "wrong"), new AuthenticationHeaderValue("Basic", "sekrit"), new AuthenticationHeaderValue("Bearer", "sekrit2") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(host.ChatBody("Hi", 2)) };
            request.Headers.Authorization = header;
            using var response = await host.Http.SendAsync(request);
            await ServerHost.AssertErrorAsync(response, 401);
        }
        using (var models = await host.Http.GetAsync("v1/models"))
            await ServerHost.AssertErrorAsync(models, 401);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = ServerHost.Json(host.ChatBody("Hi", 2)) })
        {
            request.Headers.Authorization = ServerHost.Bearer("sekrit");
            using var ok = await host.Http.SendAsync(request);
            Assert.True(ok.IsSuccessStatusCode, await ok.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task NoApiKey_NoHeaderNeeded_AndAnyHeaderAccepted()
    {
        await using var host = await ServerHost.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        request.Headers.Authorization = ServerHost.Bearer("anything");
        using var response = await host.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Health_Is200()
    {
        await using var host = await ServerHost.StartAsync();
        using var response = await host.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("Once upon a time, Lily had a ball.")]
    [InlineData("")]
    [InlineData("  spaces  and\nnew lines\t")]
    [InlineData("héllo wörld ☃")]
    public async Task TokenizeAndDetokenize_RoundTrip_AndAgreeWithTheTokenizer(string text)
    {
        await using var host = await ServerHost.StartAsync();
        using var tokenized = await host.PostAsync("tokenize", new JsonObject { ["content"] = text }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, tokenized.StatusCode);
        int[] tokens = JsonNode.Parse(await tokenized.Content.ReadAsStringAsync())!["tokens"]!.AsArray().Select(t => (int)t!).ToArray();
        // llama-server's /tokenize adds no BOS unless asked (add_special); either choice is accepted here, nothing else.
        int[] plain = host.Model.Tokenizer.Encode(text, addBos: false), withBos = host.Model.Tokenizer.Encode(text, addBos: true);
        Assert.True(tokens.SequenceEqual(plain) || tokens.SequenceEqual(withBos), $"[{string.Join(",", tokens)}] vs [{string.Join(",", plain)}]");
        using var detokenized = await host.PostAsync("detokenize", new JsonObject { ["tokens"] = new JsonArray(plain.Select(t => (JsonNode)t).ToArray()) }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, detokenized.StatusCode);
        string content = (string)JsonNode.Parse(await detokenized.Content.ReadAsStringAsync())!["content"]!;
        Assert.Equal(host.Model.Tokenizer.Decode(plain), content);
        Assert.Equal(text, content);
    }

    [Fact]
    public async Task WrongMethodOrUnknownPath_IsNotA500()
    {
        await using var host = await ServerHost.StartAsync();
        using var get = await host.Http.GetAsync("v1/chat/completions");
        Assert.True((int)get.StatusCode is 404 or 405, $"{get.StatusCode}");
        using var unknown = await host.PostAsync("v1/nothing", "{}");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task WrongContentType_StillParsesJsonOrIsA4xx()
    {
        await using var host = await ServerHost.StartAsync();
        using var response = await host.Http.PostAsync("v1/chat/completions", new StringContent(host.ChatBody("Hi", 2), Encoding.UTF8, "text/plain"));
        Assert.True((int)response.StatusCode is 200 or 400 or 415, $"{response.StatusCode}");
    }
}
#endif
