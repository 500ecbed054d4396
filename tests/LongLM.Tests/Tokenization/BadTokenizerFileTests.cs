using System.Text;
using LongLM.Runtime.Tokenization;
using static LongLM.Tests.Tokenization.TokenizerTestData;

namespace LongLM.Tests.Tokenization;

/// <summary>
/// A model folder is untrusted input: every broken or unsupported tokenizer file gives a
/// <see cref="TokenizerException"/> that names the file, never a raw parser exception.
/// </summary>
public sealed class BadTokenizerFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private TokenizerException LoadFails(string expectedFile)
    {
        var error = Assert.Throws<TokenizerException>(() => ModelTokenizer.Load(_dir.Path));
        Assert.Contains(expectedFile, error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.FilePath);
        return error;
    }

    [Fact]
    public void GarbageSentencePieceModel_NamesTheFile()
    {
        File.WriteAllText(_dir.File("tokenizer.model"), "this is not a sentencepiece model, just text");
        var error = LoadFails("tokenizer.model");
        Assert.EndsWith("tokenizer.model", error.FilePath, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedSentencePieceModel_NamesTheFile()
    {
        // The first kilobyte of the real Llama 2 model: a protobuf cut off in the middle of a field.
        byte[] model = File.ReadAllBytes(Path.Combine(ModelDir(Llama2), "tokenizer.model"));
        File.WriteAllBytes(_dir.File("tokenizer.model"), model[..1000]);
        LoadFails("tokenizer.model");
    }

    [Fact]
    public void EmptySentencePieceModel_NamesTheFile()
    {
        File.WriteAllBytes(_dir.File("tokenizer.model"), []);
        LoadFails("tokenizer.model");
    }

    [Fact]
    public void TruncatedTokenizerJson_NamesTheFile()
    {
        // The first 100 kB of the real GPT-NeoX tokenizer.json: JSON that stops inside model.vocab.
        byte[] json = File.ReadAllBytes(Path.Combine(ModelDir(GptNeox), "tokenizer.json"));
        File.WriteAllBytes(_dir.File("tokenizer.json"), json[..100_000]);
        var error = LoadFails("tokenizer.json");
        Assert.EndsWith("tokenizer.json", error.FilePath, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("WordPiece")]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    public void UnsupportedModelType_NamesTheFileAndTheType(string type)
    {
        File.WriteAllText(_dir.File("tokenizer.json"),
            $$$"""{"version": "1.0", "added_tokens": [], "model": {"type": "{{{type}}}", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}}""");
        var error = LoadFails("tokenizer.json");
        Assert.Contains(type, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenizerJsonWithoutModelSection_NamesTheFile()
    {
        File.WriteAllText(_dir.File("tokenizer.json"), """{"version": "1.0", "added_tokens": []}""");
        var error = LoadFails("tokenizer.json");
        Assert.Contains("\"model\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenizerJsonWithWrongKinds_NamesTheFile()
    {
        File.WriteAllText(_dir.File("tokenizer.json"),
            """{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}""");
        LoadFails("tokenizer.json");
    }

    [Fact]
    public void TokenizerJsonNotByteLevel_WithoutTokenizerModel_NamesTheFile()
    {
        // A SentencePiece-style conversion (Metaspace, byte_fallback) that LongLM does not run from tokenizer.json.
        File.WriteAllText(_dir.File("tokenizer.json"),
            """{"pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""");
        var error = LoadFails("tokenizer.json");
        Assert.Contains("Metaspace", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenizerJsonNotSupported_WithTokenizerModelBeside_LoadsTheSentencePieceModel()
    {
        // Repos that ship both describe one tokenizer; the tokenizer.model is the one LongLM can run.
        File.WriteAllText(_dir.File("tokenizer.json"),
            """{"model": {"type": "Unigram", "vocab": [["<unk>", 0.0]], "unk_id": 0}}""");
        File.Copy(Path.Combine(ModelDir(Stories260K), "tokenizer.model"), _dir.File("tokenizer.model"));
        var tokenizer = ModelTokenizer.Load(_dir.Path);
        Assert.Equal("sentencepiece", tokenizer.Kind);
        Assert.Equal(512, tokenizer.VocabSize);
    }

    [Fact]
    public void FolderWithoutTokenizer_NamesBothExpectedFiles()
    {
        var error = LoadFails("tokenizer.json");
        Assert.Contains("tokenizer.model", error.Message, StringComparison.Ordinal);
        Assert.Equal(_dir.Path, error.FilePath);
    }

    [Fact]
    public void MissingFolder_NamesTheFolder()
    {
        string missing = _dir.File("no-such-model");
        var error = Assert.Throws<TokenizerException>(() => ModelTokenizer.Load(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadTokenizerConfig_NamesTheConfigFile()
    {
        File.Copy(Path.Combine(ModelDir(Stories260K), "tokenizer.model"), _dir.File("tokenizer.model"));
        File.WriteAllText(_dir.File("tokenizer_config.json"), """{"add_bos_token": true, "bos_token": """);
        LoadFails("tokenizer_config.json");
    }

    [Fact]
    public void ConfigNamingAnUnknownBos_NamesTheConfigFileAndToken()
    {
        File.Copy(Path.Combine(ModelDir(Stories260K), "tokenizer.model"), _dir.File("tokenizer.model"));
        File.WriteAllText(_dir.File("tokenizer_config.json"), """{"bos_token": {"content": "<|no-such-token|>"}}""");
        var error = LoadFails("tokenizer_config.json");
        Assert.Contains("<|no-such-token|>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SplitPatternThatIsNotARegex_NamesTheFile()
    {
        var json = new StringBuilder("""{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [""");
        json.Append("""{"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false},""");
        json.Append("""{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},""");
        json.Append(""" "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""");
        File.WriteAllText(_dir.File("tokenizer.json"), json.ToString());
        LoadFails("tokenizer.json");
    }

    /// <summary>
    /// A byte-level BPE tokenizer.json whose pre-tokenizer is one Split (Isolated) with <paramref name="pattern"/>
    /// followed by a ByteLevel step that only maps bytes (no prefix space, no GPT-2 regex).
    /// </summary>
    private void WriteSplitTokenizer(string pattern, string vocab, string merges)
    {
        string escaped = System.Text.Json.JsonSerializer.Serialize(pattern);
        File.WriteAllText(_dir.File("tokenizer.json"), $$$"""
            {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": {{{escaped}}}}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
             "model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": {{{merges}}}}}
            """);
    }

    [Fact]
    public async Task CatastrophicSplitPattern_IsATokenizerErrorNamingTheFile_NotAHang()
    {
        // (a+)+$ on 40 a's and a b tries every way to split the a's (2^40) before failing: hours in a backtracking engine.
        WriteSplitTokenizer("(a+)+$", """{"a": 0, "b": 1}""", "[]");
        var tokenizer = ModelTokenizer.Load(_dir.Path);
        var error = await HangGuard.Throws(() => tokenizer.Encode(new string('a', 40) + "b", addBos: false));
        var typed = Assert.IsType<TokenizerException>(error);
        Assert.Contains("tokenizer.json", typed.Message, StringComparison.Ordinal);
        Assert.Contains("(a+)+$", typed.Message, StringComparison.Ordinal);
        Assert.Contains("catastrophic backtracking", typed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SplitPattern_OptionalElementBeforeTheMatch_KeepsEveryMatch()
    {
        // Pins the backtracking engine: HF's Split runs Oniguruma (leftmost-first backtracking), which finds both commas
        // of " a,," with " ?, ?"; .NET's NonBacktracking engine drops the first (dotnet/runtime#130176) and would give
        // the pieces " a,", ",". Ids by hand: " a" merges Ġ+a (rank 1) to 3, each "," is 2. The wrong pieces would merge
        // "a ," first (rank 0): " a," -> [Ġ, a,] = [0, 4].
        WriteSplitTokenizer(" ?, ?", """{"Ġ": 0, "a": 1, ",": 2, "Ġa": 3, "a,": 4}""", """["a ,", "Ġ a"]""");
        var tokenizer = ModelTokenizer.Load(_dir.Path);
        Assert.Equal([3, 2, 2], tokenizer.Encode(" a,,", addBos: false));
    }

    /// <summary>A minimal byte-level BPE tokenizer.json: vocab a, b, ab plus the given extra sections.</summary>
    private void WriteByteLevelTokenizer(string vocab, string addedTokens = "[]", string postProcessor = "null") =>
        File.WriteAllText(_dir.File("tokenizer.json"), $$$"""
            {"added_tokens": {{{addedTokens}}}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
             "post_processor": {{{postProcessor}}},
             "model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": ["a b"]}}
            """);

    [Theory]
    [InlineData(2147483647)] // int.MaxValue: the table size id + 1 overflowed (IndexOutOfRangeException)
    [InlineData(2000000000)] // a 2e9-entry table: 16 GB and about a minute before the fix
    public async Task VocabIdFarBeyondTheTokenCount_IsRefusedBeforeAllocating(int id)
    {
        WriteByteLevelTokenizer($$"""{"a": 0, "b": 1, "ab": {{id}}}""");
        var error = await HangGuard.Throws(() => ModelTokenizer.Load(_dir.Path));
        var typed = Assert.IsType<TokenizerException>(error);
        Assert.Contains("tokenizer.json", typed.Message, StringComparison.Ordinal);
        Assert.Contains($"\"ab\" has the id {id}", typed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddedTokenIdFarBeyondTheTokenCount_IsRefused()
    {
        WriteByteLevelTokenizer("""{"a": 0, "b": 1, "ab": 2}""",
            addedTokens: """[{"id": 2000000000, "content": "<|end|>", "special": true}]""");
        var error = await HangGuard.Throws(() => ModelTokenizer.Load(_dir.Path));
        var typed = Assert.IsType<TokenizerException>(error);
        Assert.Contains("added token \"<|end|>\" has the id 2000000000", typed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NegativeTemplateTokenId_IsRefused()
    {
        // The template's special_tokens table gives ids directly; -5 indexed the token table (IndexOutOfRangeException).
        WriteByteLevelTokenizer("""{"a": 0, "b": 1, "ab": 2}""", postProcessor: """
            {"type": "TemplateProcessing", "single": "<s> $A", "special_tokens": {"<s>": {"id": "<s>", "ids": [-5], "tokens": ["<s>"]}}}
            """);
        var error = LoadFails("tokenizer.json");
        Assert.Contains("template token \"<s>\" has the id -5", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tokenizer_config.json")]
    [InlineData("tokenizer.json")]
    public void NonUtf8JsonTokenizerFile_NamesTheFile(string file)
    {
        // Found by TokenizerJsonFuzzTests: a 0xFF byte inside the bos_token string of tokenizer_config.json escaped as
        // InvalidOperationException ("Cannot transcode invalid UTF-8") when the string was read.
        WriteByteLevelTokenizer("""{"a": 0, "b": 1, "ab": 2, "<s>": 3}""");
        File.WriteAllText(_dir.File("tokenizer_config.json"), """{"bos_token": "<s>", "add_bos_token": true}""");
        byte[] bytes = File.ReadAllBytes(_dir.File(file));
        bytes[Array.LastIndexOf(bytes, (byte)'s')] = 0xFF;
        File.WriteAllBytes(_dir.File(file), bytes);
        var error = LoadFails(file);
        Assert.Contains("is not valid UTF-8", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnpairedSurrogateInTokenizerConfig_NamesTheFile()
    {
        // "\ud800" is valid JSON but no text: reading bos_token threw InvalidOperationException.
        WriteByteLevelTokenizer("""{"a": 0, "b": 1, "ab": 2}""");
        File.WriteAllText(_dir.File("tokenizer_config.json"), """{"bos_token": "\ud800"}""");
        var error = LoadFails("tokenizer_config.json");
        Assert.Contains("invalid string", error.Message, StringComparison.Ordinal);
    }
}
