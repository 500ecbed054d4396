using System.Text.Json.Nodes;
using LongLM.Tests.Cli;

namespace LongLM.Tests.Chat;

/// <summary>
/// `longlm chat-template` prints the template's rendering exactly: compared byte for byte with the python3-jinja2
/// golden (tests/data/chat-templates/golden); input problems are one stderr line and exit 2.
/// </summary>
public sealed class ChatTemplateCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string WriteJson(string name, JsonNode node) => _dir.WriteText(name, node.ToJsonString());

    [Theory]
    [InlineData("qwen2.5-instruct", "tools-calls")]
    [InlineData("mistral-7b-instruct-v0.3", "tool-call-single")]
    [InlineData("llama2-chat", "unicode-quotes-newlines")]
    public void ChatTemplate_PrintsTheGoldenExactly(string templateId, string conversationId)
    {
        var conversation = ChatTemplateData.Conversation(conversationId);
        var args = new List<string> { "chat-template", "--model", ChatTemplateData.TemplateFolder(templateId), "--messages", WriteJson("messages.json", conversation["messages"]!.DeepClone()) };
        if (conversation["tools"] is { } tools) args.AddRange(["--tools", WriteJson("tools.json", ChatTemplateData.Conversations["tools"]![(string)tools!]!.DeepClone())]);
        if ((bool)conversation["add_generation_prompt"]!) args.Add("--add-generation-prompt");

        var (exit, output, err) = CliRunner.Run([.. args]);

        Assert.True(exit == 0, err);
        Assert.Equal((string)ChatTemplateData.Golden(templateId)["renders"]![conversationId]!["output"]!, output);
    }

    [Fact]
    public void ChatTemplate_ModelWithoutTemplate_Exit2()
    {
        string model = _dir.File("model");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), """{"eos_token": "</s>"}""");
        var (exit, output, err) = CliRunner.Run("chat-template", "--model", model, "--messages", WriteJson("m.json", new JsonArray()));
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("no chat template", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void ChatTemplate_BadJson_Exit2()
    {
        var (exit, _, err) = CliRunner.Run("chat-template", "--model", ChatTemplateData.TemplateFolder("chatml-nous-hermes-2"), "--messages", _dir.WriteText("bad.json", "[{\"role\": "));
        Assert.Equal(2, exit);
        Assert.Contains("not valid JSON", err);
    }

    [Fact]
    public void ChatTemplate_TemplateRaises_Exit2WithItsMessage()
    {
        var messages = new JsonArray { new JsonObject { ["role"] = "system", ["content"] = "s" }, new JsonObject { ["role"] = "user", ["content"] = "u" } };
        var (exit, output, err) = CliRunner.Run("chat-template", "--model", ChatTemplateData.TemplateFolder("gemma-7b-it"), "--messages", WriteJson("m.json", messages));
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("System role not supported", err);
        Assert.Contains("chat template 'default'", err);
    }

    [Fact]
    public void ChatTemplate_UnknownTemplateName_Exit2ListingNames()
    {
        var (exit, _, err) = CliRunner.Run("chat-template", "--model", ChatTemplateData.TemplateFolder("chatml-nous-hermes-2"), "--messages", WriteJson("m.json", new JsonArray()), "--template", "nope");
        Assert.Equal(2, exit);
        Assert.Contains("default", err);
    }
}
