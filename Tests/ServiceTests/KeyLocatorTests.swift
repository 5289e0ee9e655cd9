import Testing

@testable import Service

@Suite("TOML key locator")
struct KeyLocatorTests {
    @Test("headers, arrays of tables, dotted and quoted keys, inline tables and arrays get their lines")
    func lines() throws {
        let text = """
            top = 1
            [a]
            x = 2
            b.c = 3
            "quoted key" = 4
            'lit.key' = 5
            [[s]]
            name = "one"
            opts = { k = "v", "q q" = 1 }
            [[s]]

            name = "two"
            list = [
              { u = 1 },
              { u = 2 },
            ]
            [s.sub]
            y = 1
            [a.deep.er]
            z = 0
            """
        // TOMLKit must accept it, or the locator is being tested on something that is not TOML.
        _ = try TOMLNode.parse(text)
        let l = TOMLKeyLocator(text)
        let cases: [(ConfigKeyPath, Int)] = [
            ("top", 1), ("a", 2), ("a.x", 3), ("a.b", 4), ("a.b.c", 4),
            (ConfigKeyPath([.key("a"), .key("quoted key")]), 5), (ConfigKeyPath([.key("a"), .key("lit.key")]), 6),
            ("s", 7), (ConfigKeyPath([.key("s"), .index(0)]), 7),
            (ConfigKeyPath([.key("s"), .index(0), .key("name")]), 8),
            (ConfigKeyPath([.key("s"), .index(0), .key("opts"), .key("k")]), 9),
            (ConfigKeyPath([.key("s"), .index(0), .key("opts"), .key("q q")]), 9),
            (ConfigKeyPath([.key("s"), .index(1)]), 10),
            (ConfigKeyPath([.key("s"), .index(1), .key("name")]), 12),
            (ConfigKeyPath([.key("s"), .index(1), .key("list"), .index(0), .key("u")]), 14),
            (ConfigKeyPath([.key("s"), .index(1), .key("list"), .index(1), .key("u")]), 15),
            (ConfigKeyPath([.key("s"), .index(1), .key("sub"), .key("y")]), 18),
            ("a.deep.er.z", 20),
        ]
        for (path, line) in cases {
            #expect(l.line(of: path) == line, "\(path)")
        }
        // Unknown paths fall back to their nearest ancestor.
        #expect(l.nearestLine(of: ConfigKeyPath([.key("s"), .index(1), .key("missing")])) == 10)
        #expect(l.nearestLine(of: "nowhere.at.all") == nil)
    }

    @Test("strings that look like headers or keys do not move the lines")
    func strings() throws {
        let text = #"""
            a = """
            [fake]
            b = 1
            """
            c = '''
            [[also.fake]]'''
            d = "x = [1, # not a comment"
            e = [ "]", '[', """
            ]""" ]  # arrays may span lines
            [real]
            f = 'it"s'
            g = "esc \" [h]"
            """#
        _ = try TOMLNode.parse(text)
        let l = TOMLKeyLocator(text)
        #expect(l.line(of: "a") == 1)
        #expect(l.line(of: "fake") == nil && l.line(of: "b") == nil && l.line(of: "also") == nil)
        #expect(l.line(of: "c") == 5)
        #expect(l.line(of: "d") == 7)
        #expect(l.line(of: "e") == 8)
        #expect(l.line(of: "real") == 10)
        #expect(l.line(of: "real.g") == 12)
    }

    @Test("key paths print as TOML would need them")
    func pathDescription() {
        #expect(ConfigKeyPath([.key("source"), .index(2), .key("options"), .key("rtsp_transport")]).description
            == "source[2].options.rtsp_transport")
        #expect(ConfigKeyPath([.key("a"), .key("b c"), .key("d\"e")]).description == #"a."b c"."d\"e""#)
        #expect(ConfigKeyPath.root.description == "")
    }
}
