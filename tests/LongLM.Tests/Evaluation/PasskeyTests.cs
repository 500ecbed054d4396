using System.Text.Json;
using System.Text.RegularExpressions;
using LongLM.Runtime;
using LongLM.Runtime.Evaluation;
using LongLM.Runtime.Tokenization;

namespace LongLM.Tests.Evaluation;

/// <summary>
/// The passkey prompt builder and scoring (docs/passkey.md). Prompt goldens: golden/passkey_words.json, written by
/// tools/reference/passkey_ref.py from its own reading of LM-Infinite's create_passkey_data.py + get_data.py with a
/// toy counter (BOS + one token per whitespace word); the scoring cases are worked by hand below.
/// </summary>
public sealed class PasskeyTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    /// <summary>The reference script's counter: BOS plus whitespace-separated words.</summary>
    private static int Words(string text) => 1 + text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    public static TheoryData<int> GoldenCases()
    {
        var data = new TheoryData<int>();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "passkey_words.json")));
        for (int i = 0; i < doc.RootElement.GetProperty("cases").GetArrayLength(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void Prompt_matches_the_reference_script(int index)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "passkey_words.json")));
        var c = doc.RootElement.GetProperty("cases")[index];
        var prompt = PasskeyPrompt.Build(Words, c.GetProperty("length").GetInt32(), c.GetProperty("depth").GetDouble(), c.GetProperty("passkey").GetInt32());
        Assert.Equal(c.GetProperty("fillers").GetInt32(), prompt.Fillers);
        Assert.Equal(c.GetProperty("fillers_before").GetInt32(), prompt.FillersBefore);
        Assert.Equal(c.GetProperty("tokens").GetInt32(), prompt.Tokens);
        Assert.Equal(c.GetProperty("text").GetString(), prompt.Text);
    }

    [Fact]
    public void Word_counts_worked_by_hand()
    {
        // Words: prefix 26, key line 12, question 9 ("What is the pass key? The pass key is"), BOS 1 -> 48 fixed;
        // one filler is 19 words. Length 105: (105 - 48) / 19 = 3 fillers, 48 + 57 = 105 tokens exactly;
        // depth 0.5 -> floor(1.5 + 0.5) = 2 before.
        var prompt = PasskeyPrompt.Build(Words, 105, 0.5, 1234567);
        Assert.Equal((3, 2, 105), (prompt.Fillers, prompt.FillersBefore, prompt.Tokens));
        // Length 104: one token short of the third filler -> 2 fillers, 48 + 38 = 86 tokens; depth 0.5 -> floor(1 + 0.5) = 1.
        prompt = PasskeyPrompt.Build(Words, 104, 0.5, 1234567);
        Assert.Equal((2, 1, 86), (prompt.Fillers, prompt.FillersBefore, prompt.Tokens));
        Assert.StartsWith(PasskeyPrompt.TaskPrefix + " " + PasskeyPrompt.Filler + " The pass key is 1234567. Remember it. 1234567 is the pass key. " + PasskeyPrompt.Filler + " What is", prompt.Text);
        Assert.EndsWith("What is the pass key? The pass key is ", prompt.Text);
    }

    [Theory]
    [InlineData(256, 0.0)]
    [InlineData(512, 0.5)]
    [InlineData(2048, 1.0)]
    public void Real_tokenizer_prompt_fills_the_length(int length, double depth)
    {
        // Property of the rule with stories260K's tokenizer: the whole prompt with BOS fits, one more filler would not.
        var tokenizer = ModelTokenizer.Load(Stories);
        int Count(string text) => tokenizer.Encode(text).Length;
        var prompt = PasskeyPrompt.Build(Count, length, depth, 4242424);
        Assert.Equal(Count(prompt.Text), prompt.Tokens);
        Assert.True(prompt.Tokens <= length, $"{prompt.Tokens} > {length}");
        int n = prompt.Fillers + 1;
        Assert.True(Count(PasskeyPrompt.Compose(4242424, n, PasskeyPrompt.FillersBeforeAt(depth, n))) > length);
        Assert.Equal(PasskeyPrompt.FillersBeforeAt(depth, prompt.Fillers), prompt.FillersBefore);
    }

    [Fact]
    public void Bad_prompt_inputs_are_LongLMExceptions()
    {
        Assert.Throws<LongLMException>(() => PasskeyPrompt.Build(Words, 66, 0.5, 42)); // one filler needs 48 + 19 = 67 (key 42 is one word too)
        Assert.Throws<LongLMException>(() => PasskeyPrompt.Build(Words, 100, 1.5, 42));
        Assert.Throws<LongLMException>(() => PasskeyPrompt.Build(Words, 100, double.NaN, 42));
        Assert.Throws<LongLMException>(() => PasskeyPrompt.Build(Words, 100, 0.5, 0));
        Assert.Throws<LongLMException>(() => PasskeyEvaluator.ParseLengths("1k,abc"));
        Assert.Throws<LongLMException>(() => PasskeyEvaluator.ParseLengths("0"));
        Assert.Throws<LongLMException>(() => PasskeyEvaluator.ParseDepths("0,1.5"));
        Assert.Throws<LongLMException>(() => PasskeyEvaluator.Passkeys(0, 256, 0));
    }

    [Fact]
    public void Lists_parse()
    {
        Assert.Equal([256, 1024, 2048, 32768], PasskeyEvaluator.ParseLengths("256, 1k,2K,32k"));
        Assert.Equal([0, 0.25, 1], PasskeyEvaluator.ParseDepths("0,0.25,1"));
    }

    [Theory]
    // LM-Infinite's rule: int(re.findall(r'\d+', text)[0]) == int(target), no digits -> 0 (never a key >= 1).
    [InlineData("1234567", 1234567, true)]
    [InlineData("1234567. Remember it.", 1234567, true)]
    [InlineData(" 0001234567", 1234567, true)]   // int("0001234567") = 1234567
    [InlineData("123456", 1234567, false)]       // a prefix of the key is not the key
    [InlineData("12345678", 1234567, false)]     // nor is a longer number
    [InlineData("12 34567", 1234567, false)]     // only the first run counts: 12
    [InlineData("the key 1234567", 1234567, true)]
    [InlineData("Once upon a time", 1234567, false)]
    [InlineData("", 7, false)]
    // LM-Infinite stops at "\n", "</Answer>", "</Summary>": digits after the first stop do not count.
    [InlineData("1234567\nThe pass key", 1234567, true)]
    [InlineData("\n1234567", 1234567, false)]
    [InlineData("</Answer>1234567", 1234567, false)]
    public void Scoring_takes_the_first_run_of_digits(string answer, int passkey, bool correct) =>
        Assert.Equal(correct, PasskeyEvaluator.IsCorrect(answer, passkey));

    [Fact]
    public void Passkeys_are_seeded_and_in_range()
    {
        var a = PasskeyEvaluator.Passkeys(3, 512, 50);
        Assert.Equal(a, PasskeyEvaluator.Passkeys(3, 512, 50));
        Assert.NotEqual(a, PasskeyEvaluator.Passkeys(3, 1024, 50));
        Assert.All(a, k => Assert.InRange(k, 1, 9_999_999));
    }

    private static readonly Regex s_key = new(@"The pass key is (\d+)\. Remember it\.", RegexOptions.CultureInvariant);

    /// <summary>A double that reads the key line out of the prompt text, as a perfect model would.</summary>
    private static string Oracle(PasskeyPrompt prompt) => s_key.Match(prompt.Text).Groups[1].Value;

    [Fact]
    public void An_answerer_that_reads_the_prompt_scores_one()
    {
        var cells = PasskeyEvaluator.Evaluate([70, 137, 300], [0, 0.5, 1], 4, 9, Words, Oracle);
        Assert.Equal(9, cells.Count);
        Assert.All(cells, c => Assert.Equal((4, 4, 1.0), (c.Trials, c.Correct, c.Accuracy)));
        Assert.Equal([70, 70, 70, 137, 137, 137, 300, 300, 300], cells.Select(c => c.Length));
    }

    [Fact]
    public void Wrong_answerers_score_zero()
    {
        // Off by one digit, and a model that tells a story instead: both 0 of 3 in every cell.
        string OffByOne(PasskeyPrompt p) => (long.Parse(Oracle(p)) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.All(PasskeyEvaluator.Evaluate([137], [0, 1], 3, 1, Words, OffByOne), c => Assert.Equal(0.0, c.Accuracy));
        Assert.All(PasskeyEvaluator.Evaluate([137], [0, 1], 3, 1, Words, _ => "Once upon a time"), c => Assert.Equal(0, c.Correct));
    }

    [Fact]
    public void Half_right_is_one_half()
    {
        // Right on even trials only: 2 of 4 -> 0.5.
        int call = 0;
        var cells = PasskeyEvaluator.Evaluate([137], [0.5], 4, 2, Words, p => call++ % 2 == 0 ? Oracle(p) : "no");
        Assert.Equal(0.5, Assert.Single(cells).Accuracy);
    }
}
