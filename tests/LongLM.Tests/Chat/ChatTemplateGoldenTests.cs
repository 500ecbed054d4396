using System.Globalization;
using System.Text.Json.Nodes;
using LongLM.Runtime.Chat;

namespace LongLM.Tests.Chat;

/// <summary>tests/data/chat-templates in the repository (the tests read it in place, like the reference scripts do).</summary>
internal static class ChatTemplateData
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Kernels.sln")))
                return Path.Combine(dir.FullName, "tests", "data", "chat-templates");
        throw new DirectoryNotFoundException("cannot find Kernels.sln above the test binaries");
    });

    public static string Root => s_root.Value;

    public static string TemplateFolder(string id) => Path.Combine(Root, "templates", id);

    public static JsonObject Conversations { get; } = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "conversations.json")))!;

    /// <summary>The fixed clock of the goldens (a naive wall-clock time, as the Python reference uses it).</summary>
    public static DateTimeOffset Now { get; } =
        new(DateTime.ParseExact((string)Conversations["now"]!, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture), TimeSpan.Zero);

    public static JsonObject Conversation(string id) =>
        Conversations["conversations"]!.AsArray().Select(c => c!.AsObject()).Single(c => (string)c["id"]! == id);

    /// <summary>The input the references give the template: tools resolved by name, special tokens as variables.</summary>
    public static ChatTemplateInput Input(JsonObject conversation, ChatTemplates templates) => new()
    {
        Messages = conversation["messages"]!.DeepClone().AsArray(),
        Tools = conversation["tools"] is { } tools ? Conversations["tools"]![(string)tools!]!.DeepClone().AsArray() : null,
        AddGenerationPrompt = (bool)conversation["add_generation_prompt"]!,
        Variables = templates.SpecialTokens,
        Now = Now,
    };

    public static JsonObject Golden(string templateId) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "golden", templateId + ".json")))!;

    public static IEnumerable<string> TemplateIds() =>
        Directory.GetDirectories(Path.Combine(Root, "templates")).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;
}

/// <summary>
/// Every collected real template (tests/data/chat-templates/templates, see sources.md) rendered for every conversation
/// of conversations.json must equal the golden of python3-jinja2 configured like transformers'
/// apply_chat_template (tools/reference/chat_template_ref.py, made by make_chat_goldens.sh) byte for byte; where
/// the reference raised, LongLM must raise ChatTemplateException, with raise_exception's own text.
/// </summary>
public sealed class ChatTemplateGoldenTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string template in ChatTemplateData.TemplateIds())
            foreach (var conversation in ChatTemplateData.Conversations["conversations"]!.AsArray())
                data.Add(template, (string)conversation!["id"]!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Render_MatchesPythonJinjaGolden(string templateId, string conversationId)
    {
        var templates = ChatTemplates.Load(ChatTemplateData.TemplateFolder(templateId));
        Assert.NotNull(templates);
        var conversation = ChatTemplateData.Conversation(conversationId);
        var input = ChatTemplateData.Input(conversation, templates);
        var template = templates.Select(null, input.Tools is not null);
        var golden = ChatTemplateData.Golden(templateId)["renders"]![conversationId]!.AsObject();

        if (golden["output"] is { } output)
        {
            string expected = (string)output!;
            string actual = template.Render(input);
            if (actual != expected)
            {
                int at = 0;
                while (at < Math.Min(actual.Length, expected.Length) && actual[at] == expected[at]) at++;
                Assert.Fail($"first difference at char {at}:\nexpected ...{Show(expected, at)}\nactual   ...{Show(actual, at)}");
            }
        }
        else
        {
            var error = Assert.Throws<ChatTemplateException>(() => template.Render(input));
            Assert.Contains($"chat template '{template.Name}'", error.Message);
            if ((string)golden["kind"]! == "raise_exception") Assert.Equal((string)golden["error"]!, error.Reason);
        }
    }

    private static string Show(string s, int at) =>
        s.Substring(Math.Max(0, at - 40), Math.Min(s.Length, at + 40) - Math.Max(0, at - 40)).Replace("\n", "\\n", StringComparison.Ordinal);

    [Fact]
    public void Goldens_CoverEveryTemplateAndConversation()
    {
        // The collection the brief asks for: at least 15 real templates, each rendered for every conversation.
        var ids = ChatTemplateData.TemplateIds().ToList();
        Assert.True(ids.Count >= 15, $"{ids.Count} templates");
        int conversations = ChatTemplateData.Conversations["conversations"]!.AsArray().Count;
        foreach (string id in ids) Assert.Equal(conversations, ChatTemplateData.Golden(id)["renders"]!.AsObject().Count);
    }
}
