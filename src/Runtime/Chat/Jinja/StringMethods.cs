using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Python's str methods that templates call (`content.strip()`, `role.startswith('tool')`, ...).</summary>
internal static class StringMethods
{
    /// <summary>str.isspace() per character: Unicode whitespace plus the separators Python counts.</summary>
    public static bool IsPySpace(char c) => char.IsWhiteSpace(c) || c is '\u001c' or '\u001d' or '\u001e' or '\u001f';

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip;
        if (chars is null or Undefined) strip = IsPySpace;
        else if (chars is string set) strip = c => set.Contains(c);
        else throw new JinjaError($"strip arg must be None or str, not {PyOps.TypeName(chars)}");
        int start = 0, end = s.Length;
        if (left) while (start < end && strip(s[start])) start++;
        if (right) while (end > start && strip(s[end - 1])) end--;
        return s[start..end];
    }

    public static PyList Split(string s, object? sep, long maxsplit, bool fromRight)
    {
        var parts = new List<string>();
        if (sep is null)
        {
            // Runs of whitespace, no empty strings.
            var words = new List<string>();
            int i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && IsPySpace(s[i])) i++;
                if (i >= s.Length) break;
                int j = i;
                while (j < s.Length && !IsPySpace(s[j])) j++;
                words.Add(s[i..j]);
                i = j;
            }
            if (maxsplit >= 0 && words.Count > maxsplit + 1)
            {
                // Re-split keeping the remainder intact.
                return new PyList(SplitWhitespaceLimited(s, maxsplit, fromRight).Select(x => (object?)x).ToList());
            }
            return new PyList(words.Select(x => (object?)x).ToList());
        }
        if (sep is not string separator) throw new JinjaError($"must be str or None, not {PyOps.TypeName(sep)}");
        if (separator.Length == 0) throw new JinjaError("empty separator");
        if (!fromRight)
        {
            int start = 0;
            while (maxsplit < 0 || parts.Count < maxsplit)
            {
                int k = s.IndexOf(separator, start, StringComparison.Ordinal);
                if (k < 0) break;
                parts.Add(s[start..k]);
                start = k + separator.Length;
            }
            parts.Add(s[start..]);
        }
        else
        {
            int end = s.Length;
            var reversed = new List<string>();
            while (maxsplit < 0 || reversed.Count < maxsplit)
            {
                int k = end - separator.Length < 0 ? -1 : s.LastIndexOf(separator, end - 1, end, StringComparison.Ordinal);
                if (k < 0) break;
                reversed.Add(s[(k + separator.Length)..end]);
                end = k;
            }
            reversed.Add(s[..end]);
            reversed.Reverse();
            parts = reversed;
        }
        return new PyList(parts.Select(x => (object?)x).ToList());
    }

    private static List<string> SplitWhitespaceLimited(string s, long maxsplit, bool fromRight)
    {
        var result = new List<string>();
        if (!fromRight)
        {
            int i = 0;
            while (i < s.Length && IsPySpace(s[i])) i++;
            while (i < s.Length)
            {
                if (result.Count == maxsplit)
                {
                    result.Add(s[i..].TrimEnd());
                    int e = s.Length;
                    while (e > i && IsPySpace(s[e - 1])) e--;
                    result[^1] = s[i..e];
                    break;
                }
                int j = i;
                while (j < s.Length && !IsPySpace(s[j])) j++;
                result.Add(s[i..j]);
                i = j;
                while (i < s.Length && IsPySpace(s[i])) i++;
            }
            return result;
        }
        int end = s.Length;
        while (end > 0 && IsPySpace(s[end - 1])) end--;
        while (end > 0)
        {
            if (result.Count == maxsplit)
            {
                int b = 0;
                while (b < end && IsPySpace(s[b])) b++;
                result.Add(s[b..end]);
                break;
            }
            int k = end;
            while (k > 0 && !IsPySpace(s[k - 1])) k--;
            result.Add(s[k..end]);
            end = k;
            while (end > 0 && IsPySpace(s[end - 1])) end--;
        }
        result.Reverse();
        return result;
    }

    /// <summary>str.title(): a cased letter after an uncased character starts a word.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            bool cased = char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
            sb.Append(cased ? (previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c);
            previousCased = cased;
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string Replace(Renderer r, string s, string old, string replacement, long count)
    {
        if (count < 0) count = long.MaxValue;
        if (old.Length == 0)
        {
            var sb = new StringBuilder();
            long done = 0;
            foreach (var ch in PyOps.CodePoints(s))
            {
                if (done < count) { sb.Append(replacement); done++; }
                sb.Append(ch);
                r.CheckLength(sb.Length);
            }
            if (done < count) sb.Append(replacement);
            return sb.ToString();
        }
        var result = new StringBuilder();
        int start = 0;
        long n = 0;
        while (n < count)
        {
            int k = s.IndexOf(old, start, StringComparison.Ordinal);
            if (k < 0) break;
            result.Append(s, start, k - start).Append(replacement);
            r.CheckLength(result.Length);
            start = k + old.Length;
            n++;
        }
        result.Append(s, start, s.Length - start);
        r.CheckLength(result.Length);
        return result.ToString();
    }

    private static string Arg(CallArgs args, int i, string name, string method)
    {
        var v = args.Get(i, name);
        return v as string ?? throw new JinjaError($"{method}() argument must be str, not {PyOps.TypeName(v)}");
    }

    /// <summary>Char index to code-point index (Python indexes code points).</summary>
    private static long CodePointIndex(string s, int charIndex) => charIndex < 0 ? -1 : PyOps.CountCodePoints(s[..charIndex]);

    public static object? Call(Renderer r, string s, string method, CallArgs args)
    {
        switch (method)
        {
            case "strip": return Strip(s, args.Get(0, "chars"), true, true);
            case "lstrip": return Strip(s, args.Get(0, "chars"), true, false);
            case "rstrip": return Strip(s, args.Get(0, "chars"), false, true);
            case "split":
            case "rsplit":
            {
                var maxsplit = args.Get(1, "maxsplit", -1L);
                return Split(s, args.Get(0, "sep"), PyOps.ToIndex(maxsplit, "maxsplit"), method == "rsplit");
            }
            case "startswith":
            case "endswith":
            {
                var prefix = args.Get(0, "prefix");
                IEnumerable<object?> options = prefix is PyList { IsTuple: true } t ? t.Items : [prefix];
                foreach (var option in options)
                {
                    if (option is not string p) throw new JinjaError($"{method} first arg must be str or a tuple of str, not {PyOps.TypeName(option)}");
                    if (method == "startswith" ? s.StartsWith(p, StringComparison.Ordinal) : s.EndsWith(p, StringComparison.Ordinal)) return true;
                }
                return false;
            }
            case "upper": return s.ToUpperInvariant();
            case "lower": return s.ToLowerInvariant();
            case "casefold": return s.ToLowerInvariant();
            case "swapcase": return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "title": return Title(s);
            case "capitalize": return Capitalize(s);
            case "replace":
                return Replace(r, s, Arg(args, 0, "old", method), Arg(args, 1, "new", method), PyOps.ToIndex(args.Get(2, "count", -1L), "count"));
            case "join":
            {
                var items = r.Iterate(args.Get(0, "iterable"));
                var parts = new List<string>(items.Count);
                long total = 0;
                foreach (var item in items)
                {
                    if (item is not string p) throw new JinjaError($"sequence item {parts.Count}: expected str instance, {PyOps.TypeName(item)} found");
                    parts.Add(p);
                    total += p.Length + s.Length;
                }
                r.CheckLength(total);
                return string.Join(s, parts);
            }
            case "find":
            case "index":
            {
                int k = s.IndexOf(Arg(args, 0, "sub", method), StringComparison.Ordinal);
                if (k < 0 && method == "index") throw new JinjaError("substring not found");
                return CodePointIndex(s, k);
            }
            case "rfind":
            case "rindex":
            {
                int k = s.LastIndexOf(Arg(args, 0, "sub", method), StringComparison.Ordinal);
                if (k < 0 && method == "rindex") throw new JinjaError("substring not found");
                return CodePointIndex(s, k);
            }
            case "count":
            {
                string sub = Arg(args, 0, "sub", method);
                if (sub.Length == 0) return (long)PyOps.CountCodePoints(s) + 1;
                long n = 0;
                for (int k = s.IndexOf(sub, StringComparison.Ordinal); k >= 0; k = s.IndexOf(sub, k + sub.Length, StringComparison.Ordinal)) n++;
                return n;
            }
            case "isdigit":
            case "isdecimal":
            case "isnumeric":
                return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": return s.Length > 0 && s.All(IsPySpace);
            case "isupper": return s.Any(char.IsUpper) && !s.Any(char.IsLower);
            case "islower": return s.Any(char.IsLower) && !s.Any(char.IsUpper);
            case "istitle": return s.Any(char.IsLetter) && Title(s) == s;
            case "splitlines":
                return new PyList(SplitLines(s, PyOps.Truthy(args.Get(0, "keepends", false))).Select(x => (object?)x).ToList());
            case "zfill":
            {
                long width = PyOps.ToIndex(args.Get(0, "width"), "width");
                r.CheckLength(width);
                if (s.Length >= width) return s;
                int sign = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                return s[..sign] + new string('0', (int)width - s.Length) + s[sign..];
            }
            case "center":
            case "ljust":
            case "rjust":
            {
                long width = PyOps.ToIndex(args.Get(0, "width"), "width");
                r.CheckLength(width);
                string fill = args.Get(1, "fillchar", " ") as string ?? " ";
                int pad = (int)Math.Max(0, width - PyOps.CountCodePoints(s));
                if (pad == 0) return s;
                if (method == "ljust") return s + string.Concat(Enumerable.Repeat(fill, pad));
                if (method == "rjust") return string.Concat(Enumerable.Repeat(fill, pad)) + s;
                int left = pad / 2 + (pad & (int)width & 1);
                return string.Concat(Enumerable.Repeat(fill, left)) + s + string.Concat(Enumerable.Repeat(fill, pad - left));
            }
            case "partition":
            case "rpartition":
            {
                string sep = Arg(args, 0, "sep", method);
                if (sep.Length == 0) throw new JinjaError("empty separator");
                int k = method == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                if (k < 0) return method == "partition" ? Tuple(s, "", "") : Tuple("", "", s);
                return Tuple(s[..k], sep, s[(k + sep.Length)..]);
            }
            case "removeprefix":
            {
                string p = Arg(args, 0, "prefix", method);
                return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s;
            }
            case "removesuffix":
            {
                string p = Arg(args, 0, "suffix", method);
                return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s;
            }
            case "expandtabs":
                return s.Replace("\t", new string(' ', (int)PyOps.ToIndex(args.Get(0, "tabsize", 8L), "tabsize")), StringComparison.Ordinal);
            default:
                throw new JinjaError($"'str' object has no attribute '{method}'");
        }
    }

    private static PyList Tuple(params string[] parts) => new(parts.Select(p => (object?)p).ToList(), isTuple: true);

    /// <summary>str.splitlines(): \n, \r\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029 end lines.</summary>
    public static List<string> SplitLines(string s, bool keepEnds)
    {
        var lines = new List<string>();
        int start = 0, i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            int breakLength = c switch
            {
                '\r' when i + 1 < s.Length && s[i + 1] == '\n' => 2,
                '\n' or '\r' or '\v' or '\f' or '\u001c' or '\u001d' or '\u001e' or '\u0085' or '\u2028' or '\u2029' => 1,
                _ => 0,
            };
            if (breakLength == 0)
            {
                i++;
                continue;
            }
            lines.Add(keepEnds ? s[start..(i + breakLength)] : s[start..i]);
            i += breakLength;
            start = i;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }
}
