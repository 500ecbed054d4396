using System.Diagnostics;
using System.Text.Json.Nodes;
using LongLM.Runtime;
using LongLM.Runtime.Chat;

namespace LongLM.Tests.Chat;

/// <summary>
/// The interpreter's hard semantics, one template each. Expected outputs of the data-driven cases come from
/// python3-jinja2 configured like transformers (tools/reference/interpreter_cases.py wrote
/// tests/data/chat-templates/interpreter-cases.json); the sandbox and error tests pin LongLM's own contract, with
/// Jinja's documented behaviour where one exists (the sandbox's MAX_RANGE of 100000, TemplateSyntaxError lines).
/// </summary>
public sealed class ChatTemplateInterpreterTests
{
    private static readonly JsonArray s_cases =
        (JsonArray)JsonNode.Parse(File.ReadAllText(Path.Combine(ChatTemplateData.Root, "interpreter-cases.json")))!;

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in s_cases) data.Add((string)c!["name"]!);
        return data;
    }

    private static string Render(string source, JsonObject? variables = null, string name = "default")
    {
        var vars = new Dictionary<string, JsonNode?>();
        if (variables is not null) foreach (var kv in variables) vars[kv.Key] = kv.Value?.DeepClone();
        return ChatTemplate.Parse(source, name, "test.jinja").Render(new ChatTemplateInput
        {
            Messages = [],
            Variables = vars,
            Now = ChatTemplateData.Now,
        });
    }

    /// <summary>Whitespace control, trim/lstrip_blocks, loop variables, namespace, macros, call blocks, slicing, repr, tojson ...</summary>
    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Case_MatchesPythonJinja(string name)
    {
        var c = s_cases.Single(x => (string)x!["name"]! == name)!;
        string actual = Render((string)c["source"]!, new JsonObject { ["x"] = new JsonObject { ["k"] = 1 } });
        Assert.Equal((string)c["expected"]!, actual);
    }

    [Fact]
    public void RaiseException_IsChatTemplateExceptionWithTheTemplatesMessageAndLine()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("line one\n{% if true %}\n{{ raise_exception('Roles must alternate!') }}\n{% endif %}", name: "tool_use"));
        Assert.Equal("Roles must alternate!", e.Reason);
        Assert.Equal(3, e.Line);
        Assert.Contains("'tool_use'", e.Message);
        Assert.Contains("test.jinja", e.Message);
        Assert.Contains("line 3", e.Message);
        Assert.IsAssignableFrom<LongLMException>(e);
    }

    // Lines as python3-jinja2 reports them (an unclosed block at the end of the template, an unexpected token at
    // its own line); include is valid Jinja but not in LongLM's subset, and is refused where it stands.
    [Theory]
    [InlineData("ok\n{% if x %}\nunclosed", 3)]
    [InlineData("a\nb\n{{ 1 + }}", 3)]
    [InlineData("{% for x in y %}\n{% endif %}", 2)]
    [InlineData("\n\n\n{% include 'other' %}", 4)]
    [InlineData("{{ 'unterminated }}", 1)]
    [InlineData("x\n{% break %}", 2)]
    public void ParseError_NamesTemplateAndLine(string source, int line)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source, "default", "/models/m/chat_template.jinja"));
        Assert.Equal(line, e.Line);
        Assert.Contains("chat template 'default' (/models/m/chat_template.jinja), line " + line, e.Message);
    }

    [Fact]
    public void RenderError_NamesLine()
    {
        // Python: TypeError can only concatenate str (not "int") to str.
        var e = Assert.Throws<ChatTemplateException>(() => Render("a\nb\n{{ 'x' + 1 }}"));
        Assert.Equal(3, e.Line);
        Assert.Contains("can only concatenate str", e.Reason);
        // Jinja's Undefined raises on attribute access: 'foo' is undefined.
        Assert.Contains("'foo' is undefined", Assert.Throws<ChatTemplateException>(() => Render("{{ foo.bar }}")).Reason);
    }

    [Fact]
    public void ImmutableSandbox_RefusesListAppend()
    {
        // transformers' ImmutableSandboxedEnvironment: "access to attribute 'append' of 'list' object is unsafe."
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% set l = [1] %}{% set _ = l.append(2) %}{{ l }}"));
        Assert.Contains("unsafe", e.Reason);
    }

    [Fact]
    public void Range_OverSandboxMaximum_Fails()
    {
        // jinja2.sandbox.safe_range: "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% for i in range(100000000) %}x{% endfor %}"));
        Assert.Contains("Range too big", e.Reason);
    }

    [Fact]
    public void NestedLoops_HitTheStepBoundQuickly()
    {
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"));
        Assert.Contains("evaluation steps", e.Reason);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public void HugeOutput_HitsTheOutputBound()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"));
        Assert.Contains("characters", e.Reason);
        // One huge string is refused before it is allocated.
        Assert.Contains("characters", Assert.Throws<ChatTemplateException>(() => Render("{{ 'x' * 100000000000 }}")).Reason);
    }

    [Fact]
    public void RecursiveMacro_HitsTheDepthBound()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
        Assert.Contains("nested deeper", e.Reason);
    }

    [Fact]
    public void DeeplyNestedExpression_IsAParseErrorNotAStackOverflow()
    {
        string source = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
    }

    /// <summary>Hostile templates end as a render or a ChatTemplateException, never another exception or a hang.</summary>
    [Theory]
    [InlineData("{{ (-1) ** 1000000000000000000 }}")]
    [InlineData("{{ 2 ** 100 }}")]
    [InlineData("{{ -9223372036854775807 - 1 }}{{ (-9223372036854775807 - 1) // -1 }}")]
    [InlineData("{{ (-9223372036854775807 - 1) % -1 }}{{ (-9223372036854775807 - 1)|abs }}")]
    [InlineData("{{ [1, 'a']|sort }}")]
    [InlineData("{{ {1: 1, 'a': 2}|tojson(sort_keys=true) }}")]
    [InlineData("{{ [1, 'a']|max }}")]
    [InlineData("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x == ns.x }}")]
    [InlineData("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x|tojson }}")]
    [InlineData("{{ 'abc'.center(-5) }}{{ 'abc'.zfill(-1) }}{{ 'abc'[10:-10:-1] }}{{ 'x'|int(base=99) }}")]
    [InlineData("{{ 'a'.join(range(3)) }}")]
    [InlineData("{{ range(0, 10, 0) }}")]
    [InlineData("{{ 1 / 0 }}")]
    [InlineData("{{ {'a': 1}['b']['c'] }}")]
    [InlineData("{% macro m() %}{% break %}{% endmacro %}")]
    [InlineData("{{ x.y.z }}{{ loop.index }}")]
    [InlineData("{% for a, b in [1, 2] %}{% endfor %}")]
    [InlineData("{{ '\\U0010FFFF\\U00110000' }}")]
    [InlineData("{{ 99999999999999999999 }}")]
    [InlineData("{% set x = 'a' * 10000000 %}{% for i in range(10) %}{{ x }}{% endfor %}")]
    public void HostileTemplate_EndsInARenderOrChatTemplateException(string source)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            Render(source);
        }
        catch (ChatTemplateException)
        {
        }
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public void OversizedTemplate_IsRefused()
    {
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(new string('x', ChatTemplate.MaxSourceChars + 1)));
    }

    [Fact]
    public void Render_IsThreadSafe()
    {
        var template = ChatTemplate.Parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% set ns = namespace(i=loop.index) %}{{ ns.i }}{% endfor %}");
        var results = new string[64];
        Parallel.For(0, results.Length, i =>
        {
            results[i] = template.Render(new ChatTemplateInput
            {
                Messages = [new JsonObject { ["role"] = "user", ["content"] = $"m{i}" }, new JsonObject { ["role"] = "assistant", ["content"] = "ok" }],
            });
        });
        for (int i = 0; i < results.Length; i++) Assert.Equal($"user:m{i};1assistant:ok;2", results[i]);
    }

    [Fact]
    public void ToolsNull_IsNoneToTheTemplate()
    {
        // transformers passes tools=None: defined, and `is none`.
        var template = ChatTemplate.Parse("{{ tools is defined }} {{ tools is none }} {{ documents is none }} {{ add_generation_prompt }}");
        Assert.Equal("True True True False", template.Render(new ChatTemplateInput { Messages = [] }));
    }

    [Fact]
    public void Input_Numbers_KeepPythonKinds()
    {
        // json.loads: 5 is an int, 5.0 a float (printed "5.0"); a .NET double stays a float, a long an int.
        var template = ChatTemplate.Parse("{{ messages[0].a }} {{ messages[0].b }} {{ x }} {{ y }} {{ s }}");
        var input = new ChatTemplateInput
        {
            Messages = (JsonArray)JsonNode.Parse("""[{"a": 5, "b": 5.0}]""")!,
            Variables = new Dictionary<string, JsonNode?> { ["x"] = JsonValue.Create(2.0), ["y"] = JsonValue.Create(7L), ["s"] = JsonValue.Create("t") },
        };
        Assert.Equal("5 5.0 2.0 7 t", template.Render(input));
    }

    [Fact]
    public void Variables_MayNotRedefineMessages()
    {
        var input = new ChatTemplateInput { Messages = [], Variables = new Dictionary<string, JsonNode?> { ["messages"] = new JsonArray() } };
        Assert.Throws<LongLMException>(() => ChatTemplate.Parse("x").Render(input));
    }

    [Fact]
    public void ChatTemplates_ReadsListFormJinjaFileAndAdditionalFolder()
    {
        using var dir = new TempDirectory();
        string model = dir.File("model");
        Directory.CreateDirectory(Path.Combine(model, ChatTemplates.AdditionalTemplatesFolder));
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), """
            {"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "pad_token": null,
             "additional_special_tokens": ["<a>", {"content": "<b>"}],
             "chat_template": [{"name": "default", "template": "config-default"}, {"name": "tool_use", "template": "config-tools"}, {"name": "rag", "template": "config-rag"}]}
            """);
        File.WriteAllText(Path.Combine(model, ChatTemplates.TemplateFile), "jinja-default {{ bos_token }}\n");
        File.WriteAllText(Path.Combine(model, ChatTemplates.AdditionalTemplatesFolder, "rag.jinja"), "file-rag");
        var templates = ChatTemplates.Load(model)!;
        Assert.Equal(["default", "rag", "tool_use"], templates.ByName.Keys);
        Assert.Equal("jinja-default <s>", templates.Select(null, false).Render(new ChatTemplateInput { Messages = [], Variables = templates.SpecialTokens }));
        Assert.Equal("config-tools", templates.Select(null, hasTools: true).Source);
        Assert.Equal("file-rag", templates.Select("rag", false).Source);
        Assert.Equal("</s>", (string)templates.SpecialTokens["eos_token"]!);
        Assert.False(templates.SpecialTokens.ContainsKey("pad_token"));
        Assert.Equal("<b>", (string)templates.SpecialTokens["additional_special_tokens"]![1]!);
        var e = Assert.Throws<LongLMException>(() => templates.Select("nope", false));
        Assert.Contains("default, rag, tool_use", e.Message);
    }

    [Fact]
    public void ChatTemplates_NoTemplate_IsNull_MalformedEntry_Throws()
    {
        using var dir = new TempDirectory();
        string model = dir.File("model");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), """{"eos_token": "</s>"}""");
        Assert.Null(ChatTemplates.Load(model));
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), """{"chat_template": [{"name": 1}]}""");
        Assert.Throws<LongLMException>(() => ChatTemplates.Load(model));
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), """{"chat_template": "{% if %}"}""");
        Assert.Throws<ChatTemplateException>(() => ChatTemplates.Load(model));
    }
}
