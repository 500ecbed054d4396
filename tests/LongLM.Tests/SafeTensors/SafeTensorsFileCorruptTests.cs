using System.Diagnostics;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.SafeTensors;

/// <summary>
/// Malformed files, crafted byte by byte: each must be refused with a <see cref="SafeTensorsException"/> whose
/// message names the file and the problem.
/// </summary>
public sealed class SafeTensorsFileCorruptTests : IDisposable
{
    private const string OneMatrix = """{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}""";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Writes <paramref name="bytes"/> as <paramref name="fileName"/>, asserts Open throws naming the file and <paramref name="phrase"/>.</summary>
    private SafeTensorsException AssertOpenFails(string fileName, byte[] bytes, string phrase)
    {
        string path = _dir.Write(fileName, bytes);
        var ex = Assert.Throws<SafeTensorsException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(fileName, ex.Message);
        Assert.Contains(phrase, ex.Message);
        Assert.Equal(path, ex.FilePath);
        return ex;
    }

    private static byte[] Zeros(int count) => new byte[count];

    // ---- truncation -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Open_FileShorterThan8Bytes_ThrowsNamingFile(int length)
    {
        AssertOpenFails("tiny.safetensors", new byte[length], "shorter than the 8-byte header length");
    }

    [Fact]
    public void Open_ValidFileCutInsideData_ThrowsOffsetsPastEnd()
    {
        byte[] whole = RawSafeTensors.Build(OneMatrix, RawSafeTensors.F32(1, 2, 3, 4));
        // Sanity: the uncut file opens.
        using (SafeTensorsFile.Open(_dir.Write("whole.safetensors", whole))) { }

        byte[] cut = whole[..(whole.Length - 6)];
        var ex = AssertOpenFails("cut.safetensors", cut, "lie outside the 10-byte data section");
        Assert.Contains("'w'", ex.Message);
    }

    [Fact]
    public void Open_ValidFileCutInsideHeader_ThrowsHeaderPastEnd()
    {
        byte[] whole = RawSafeTensors.Build(OneMatrix, RawSafeTensors.F32(1, 2, 3, 4));
        AssertOpenFails("cut-header.safetensors", whole[..20], "runs past the end");
    }

    [Fact]
    public void Open_MissingFile_ThrowsNamingFile()
    {
        string path = _dir.File("absent.safetensors");
        var ex = Assert.Throws<SafeTensorsException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains("absent.safetensors", ex.Message);
        Assert.Contains("cannot read the file", ex.Message);
    }

    // ---- header length ----------------------------------------------------------------------------------------

    [Fact]
    public void Open_HeaderLengthPastEnd_ThrowsNamingFile()
    {
        byte[] bytes = RawSafeTensors.Build(OneMatrix, RawSafeTensors.F32(1, 2, 3, 4), headerLength: (ulong)OneMatrix.Length + 17);
        AssertOpenFails("past-end.safetensors", bytes, "runs past the end");
    }

    [Fact]
    public void Open_HeaderLengthBelowLimitButPastEnd_ThrowsWithoutAllocating()
    {
        // Within MaxHeaderBytes, yet far larger than the file: must be refused before any buffer is sized from it.
        byte[] bytes = RawSafeTensors.LengthOnly((ulong)SafeTensorsFile.MaxHeaderBytes, tail: "{}"u8.ToArray());
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertOpenFails("big-but-legal.safetensors", bytes, "runs past the end");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 * 1024 * 1024, "the claimed header length was allocated");
    }

    [Theory]
    [InlineData(1UL << 63)]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue)]
    [InlineData((ulong)SafeTensorsFile.MaxHeaderBytes + 1)]
    public void Open_HeaderLengthAbsurd_ThrowsQuicklyWithoutAllocating(ulong headerLength)
    {
        byte[] bytes = RawSafeTensors.LengthOnly(headerLength, tail: "{}"u8.ToArray());
        var clock = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = AssertOpenFails("absurd.safetensors", bytes, "exceeds");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(headerLength.ToString(), ex.Message);
        Assert.True(allocated < 4 * 1024 * 1024, $"{allocated} bytes allocated for an absurd header length");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    // ---- JSON shape of the header -----------------------------------------------------------------------------

    [Theory]
    [InlineData("this is not json")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]""")]
    [InlineData("""{"w": nope}""")]
    [InlineData("")]
    public void Open_HeaderNotJson_ThrowsNamingFile(string header)
    {
        AssertOpenFails("not-json.safetensors", RawSafeTensors.Build(header, Zeros(16)), "header is not valid JSON");
    }

    [Fact]
    public void Open_HeaderTooDeeplyNested_ThrowsNamingFile()
    {
        string header = new string('[', 200) + new string(']', 200);
        AssertOpenFails("deep.safetensors", RawSafeTensors.Build(header, []), "header is not valid JSON");
    }

    [Theory]
    [InlineData("""[{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}]""")]
    [InlineData("[]")]
    [InlineData("42")]
    [InlineData("\"w\"")]
    [InlineData("null")]
    public void Open_HeaderIsJsonButNotObject_ThrowsNamingFile(string header)
    {
        AssertOpenFails("array.safetensors", RawSafeTensors.Build(header, Zeros(16)), "header is not a JSON object");
    }

    [Fact]
    public void Open_EntryNotObject_ThrowsNamingTensor()
    {
        var ex = AssertOpenFails("entry.safetensors", RawSafeTensors.Build("""{"w":[1,2]}""", []), "entry is not an object");
        Assert.Contains("'w'", ex.Message);
    }

    [Fact]
    public void Open_MetadataNotObject_ThrowsNamingFile()
    {
        AssertOpenFails("meta.safetensors", RawSafeTensors.Build("""{"__metadata__":"pt"}""", []), "__metadata__ is not an object");
    }

    // ---- shape ------------------------------------------------------------------------------------------------

    [Fact]
    public void Open_NegativeShapeDimension_ThrowsNamingTensor()
    {
        const string header = """{"neg":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}}""";
        var ex = AssertOpenFails("negative.safetensors", RawSafeTensors.Build(header, Zeros(16)), "shape dimension -2 is not a non-negative integer");
        Assert.Contains("'neg'", ex.Message);
    }

    [Theory]
    [InlineData("[2.5,2]")]
    [InlineData("[\"2\",2]")]
    [InlineData("[null,2]")]
    [InlineData("[true,2]")]
    [InlineData("[[2],2]")]
    [InlineData("[99999999999999999999,2]")]
    public void Open_NonIntegerShape_ThrowsNamingTensor(string shape)
    {
        string header = $$$"""{"frac":{"dtype":"F32","shape":{{{shape}}},"data_offsets":[0,16]}}""";
        var ex = AssertOpenFails("fractional.safetensors", RawSafeTensors.Build(header, Zeros(16)), "is not a non-negative integer");
        Assert.Contains("'frac'", ex.Message);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("null")]
    [InlineData("{}")]
    public void Open_ShapeNotArray_ThrowsNamingTensor(string shape)
    {
        string header = $$$"""{"s":{"dtype":"F32","shape":{{{shape}}},"data_offsets":[0,16]}}""";
        var ex = AssertOpenFails("shape-kind.safetensors", RawSafeTensors.Build(header, Zeros(16)), "missing shape");
        Assert.Contains("'s'", ex.Message);
    }

    [Fact]
    public void Open_ShapeProductOverflowsInt64_ThrowsNamingTensor()
    {
        const long twoTo40 = 1L << 40;
        string header = $$$"""{"huge":{"dtype":"F32","shape":[{{{twoTo40}}},{{{twoTo40}}}],"data_offsets":[0,16]}}""";
        var ex = AssertOpenFails("huge.safetensors", RawSafeTensors.Build(header, Zeros(16)), "overflows");
        Assert.Contains("'huge'", ex.Message);
        Assert.Contains(twoTo40.ToString(), ex.Message);
    }

    [Theory]
    [InlineData("F32", 1L << 61)] // 2^61 elements * 4 bytes = 2^63
    [InlineData("BF16", 1L << 62)] // 2^62 elements * 2 bytes = 2^63
    [InlineData("F16", long.MaxValue)]
    public void Open_ShapeByteSizeOverflowsInt64_ThrowsNamingTensor(string dtype, long elements)
    {
        string header = $$$"""{"wide":{"dtype":"{{{dtype}}}","shape":[{{{elements}}}],"data_offsets":[0,16]}}""";
        var ex = AssertOpenFails("wide.safetensors", RawSafeTensors.Build(header, Zeros(16)), "byte size of shape");
        Assert.Contains("overflows", ex.Message);
        Assert.Contains("'wide'", ex.Message);
    }

    // ---- data_offsets -----------------------------------------------------------------------------------------

    [Theory]
    [InlineData(0, 20)] // end past the 16-byte data section
    [InlineData(8, 4)] // begin > end
    [InlineData(-4, 12)] // negative begin
    [InlineData(-16, -1)] // both negative
    [InlineData(20, 36)] // wholly past the end
    public void Open_DataOffsetsOutOfRange_ThrowsNamingTensor(long begin, long end)
    {
        string header = $$$"""{"off":{"dtype":"F32","shape":[4],"data_offsets":[{{{begin}}},{{{end}}}]}}""";
        var ex = AssertOpenFails("offsets.safetensors", RawSafeTensors.Build(header, Zeros(16)), "lie outside the 16-byte data section");
        Assert.Contains("'off'", ex.Message);
        Assert.Contains($"[{begin}, {end}]", ex.Message);
    }

    [Theory]
    [InlineData("[0]")]
    [InlineData("[0,16,32]")]
    [InlineData("\"0-16\"")]
    [InlineData("null")]
    public void Open_DataOffsetsNotAPair_ThrowsNamingTensor(string offsets)
    {
        string header = $$$"""{"off":{"dtype":"F32","shape":[4],"data_offsets":{{{offsets}}}}}""";
        var ex = AssertOpenFails("offsets-pair.safetensors", RawSafeTensors.Build(header, Zeros(16)), "data_offsets must be [begin, end]");
        Assert.Contains("'off'", ex.Message);
    }

    [Theory]
    [InlineData("[\"0\",16]")]
    [InlineData("[0,\"16\"]")]
    [InlineData("[null,16]")]
    [InlineData("[0,16.5]")]
    [InlineData("[[0],16]")]
    [InlineData("[0,99999999999999999999]")]
    public void Open_DataOffsetsNotIntegers_ThrowsNamingTensor(string offsets)
    {
        string header = $$$"""{"off":{"dtype":"F32","shape":[4],"data_offsets":{{{offsets}}}}}""";
        var ex = AssertOpenFails("offsets-kind.safetensors", RawSafeTensors.Build(header, Zeros(16)), "are not integers");
        Assert.Contains("'off'", ex.Message);
    }

    [Fact]
    public void Open_ByteSizeDiffersFromShapeTimesDTypeSize_ThrowsNamingTensor()
    {
        const string header = """{"mis":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}""";
        var ex = AssertOpenFails("mismatch.safetensors", RawSafeTensors.Build(header, Zeros(24)), "20 bytes stored but shape [2,3] x F32 needs 24");
        Assert.Contains("'mis'", ex.Message);
    }

    [Fact]
    public void Open_ByteSizeMatchesF32ButDTypeIsBF16_ThrowsNamingTensor()
    {
        const string header = """{"half":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}""";
        AssertOpenFails("bf16-size.safetensors", RawSafeTensors.Build(header, Zeros(16)), "16 bytes stored but shape [4] x BF16 needs 8");
    }

    [Fact]
    public void Open_OverlappingTensors_ThrowsNamingBoth()
    {
        const string header = """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""";
        var ex = AssertOpenFails("overlap.safetensors", RawSafeTensors.Build(header, Zeros(24)), "overlap");
        Assert.Contains("'a'", ex.Message);
        Assert.Contains("'b'", ex.Message);
    }

    [Fact]
    public void Open_IdenticalOffsetsForTwoTensors_ThrowsOverlap()
    {
        const string header = """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]}}""";
        AssertOpenFails("alias.safetensors", RawSafeTensors.Build(header, Zeros(16)), "overlap");
    }

    [Fact]
    public void Open_OverlapListedOutOfOrder_ThrowsOverlap()
    {
        // The header order is not the data order; overlap must be detected after sorting by offset.
        const string header = """{"late":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"early":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}}""";
        AssertOpenFails("overlap-order.safetensors", RawSafeTensors.Build(header, Zeros(24)), "overlap");
    }

    // ---- dtype, names -----------------------------------------------------------------------------------------

    [Theory]
    [InlineData("I64")]
    [InlineData("F8_E4M3")]
    [InlineData("F64")]
    [InlineData("BOOL")]
    [InlineData("f32")]
    [InlineData("")]
    public void Open_UnknownDType_ThrowsNamingDType(string dtype)
    {
        string header = $$$"""{"t":{"dtype":"{{{dtype}}}","shape":[4],"data_offsets":[0,16]}}""";
        var ex = AssertOpenFails("dtype.safetensors", RawSafeTensors.Build(header, Zeros(16)), $"unsupported dtype '{dtype}'");
        Assert.Contains("'t'", ex.Message);
    }

    [Theory]
    [InlineData("""{"t":{"shape":[4],"data_offsets":[0,16]}}""")]
    [InlineData("""{"t":{"dtype":32,"shape":[4],"data_offsets":[0,16]}}""")]
    public void Open_MissingDType_ThrowsNamingTensor(string header)
    {
        var ex = AssertOpenFails("no-dtype.safetensors", RawSafeTensors.Build(header, Zeros(16)), "missing dtype");
        Assert.Contains("'t'", ex.Message);
    }

    [Fact]
    public void Open_DuplicateTensorName_ThrowsNamingTensor()
    {
        const string header = """{"dup":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"dup":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""";
        var ex = AssertOpenFails("duplicate.safetensors", RawSafeTensors.Build(header, Zeros(16)), "listed twice");
        Assert.Contains("'dup'", ex.Message);
    }

    [Fact]
    public void Open_HeaderWithInvalidUtf8_ThrowsNamingFile()
    {
        // A tensor name holding bytes that are not UTF-8 (0xFF can never occur in UTF-8).
        byte[] bytes = RawSafeTensors.Build("""{"w?":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", Zeros(16));
        int question = Array.IndexOf(bytes, (byte)'?');
        bytes[question] = 0xFF;
        AssertOpenFails("bad-utf8.safetensors", bytes, "header is not valid UTF-8");
    }

    [Theory]
    [InlineData("""{"w\ud800":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""")]
    [InlineData("""{"__metadata__":{"k":"\ud800"},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""")]
    public void Open_HeaderWithLoneSurrogateEscape_ThrowsNamingFile(string header)
    {
        AssertOpenFails("surrogate.safetensors", RawSafeTensors.Build(header, Zeros(16)), "header holds an invalid string");
    }
}
