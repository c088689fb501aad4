import assert from 'node:assert/strict';
import { embossName, embossText, toAscii, track1Name } from '../../src/perso/index.js';

describe('perso/emboss', () => {
  describe('transliteration', () => {
    it('maps the ICAO 9303 Latin letters, in either case', () => {
      const cases: Array<[string, string]> = [
        ['Ä', 'AE'], ['ä', 'AE'], ['Ö', 'OE'], ['ö', 'OE'], ['Ü', 'UE'], ['ü', 'UE'], ['Å', 'AA'], ['å', 'AA'],
        ['ß', 'SS'], ['Ø', 'O'], ['ø', 'O'], ['Ł', 'L'], ['ł', 'L'], ['Ñ', 'N'], ['ñ', 'N'], ['Æ', 'AE'], ['Þ', 'TH'],
      ];
      for (const [input, expected] of cases) assert.equal(embossText(input, 'name'), expected, input);
    });

    it('drops other Latin diacritics, precomposed or as combining marks', () => {
      assert.equal(embossText('Élodie Çağlar Šťastný', 'name'), 'ELODIE CAGLAR STASTNY');
      assert.equal(embossText('E\u0301lodie', 'name'), 'ELODIE');
      assert.equal(embossText('A\u0308rger', 'name'), 'AERGER', 'A + combining diaeresis is Ä');
      assert.equal(embossText('Zoe\u0308\u0323\u0301', 'name'), 'ZOE', 'stacked marks');
    });

    it('transliterates Cyrillic and Greek through the library', () => {
      assert.equal(embossText('Иван Петров', 'name'), 'IVAN PETROV');
      assert.equal(embossText('Γιώργος', 'name'), 'GIORGOS');
    });

    it('leaves plain ASCII alone and never returns a non-ASCII character', () => {
      assert.equal(toAscii('Plain text 123'), 'Plain text 123');
      assert.match(toAscii('北京 مرحبا 😀 שלום'), /^[\x00-\x7f]*$/);
    });
  });

  describe('character sets', () => {
    it('uppercases and keeps only A-Z 0-9 space . , / - & \' in names', () => {
      assert.equal(embossText("o'brien-smith, jr. & co/x", 'name'), "O'BRIEN-SMITH, JR. & CO/X");
      assert.equal(embossText('Jo_hn! (Smith) #1 "x" @y', 'name'), 'JOHN SMITH 1 X Y');
    });

    it('also keeps # in addresses', () => {
      assert.equal(embossText('Flat #4, 12 Main St.', 'address'), 'FLAT #4, 12 MAIN ST.');
      assert.equal(embossText('Flat #4', 'name'), 'FLAT 4');
    });

    it('makes runs of spaces and other whitespace one space, and trims', () => {
      assert.equal(embossText('  Anna \t\n  Maria\u00a0\u2003Berg  ', 'name'), 'ANNA MARIA BERG');
      assert.equal(embossText('A \u200f\u202eB', 'name'), 'A B', 'RTL marks are whitespace-like format characters');
    });

    it('empties a value of emoji and symbols only', () => {
      assert.equal(embossText('😀🎉 ✨', 'name'), '');
      assert.equal(embossText('', 'address'), '');
    });
  });

  describe('emboss line 1', () => {
    it('is first and last name when they fit', () => {
      assert.equal(embossName('John Jacob', 'Smith', undefined, 26), 'JOHN JACOB SMITH');
    });

    it('shortens given names to initials, last given name first', () => {
      assert.equal(embossName('John Jacob', 'Smith', undefined, 16), 'JOHN JACOB SMITH');
      assert.equal(embossName('John Jacob', 'Smith', undefined, 15), 'JOHN J SMITH');
      assert.equal(embossName('John Jacob', 'Smith', undefined, 12), 'JOHN J SMITH');
      assert.equal(embossName('John Jacob', 'Smith', undefined, 11), 'J J SMITH');
      assert.equal(embossName('John Jacob', 'Smith', undefined, 9), 'J J SMITH');
    });

    it('gives up (undefined) when even initials do not fit', () => {
      assert.equal(embossName('John Jacob', 'Smith', undefined, 8), undefined);
      assert.equal(embossName('Ann', 'Wolfeschlegelsteinhausenbergerdorff', undefined, 26), undefined);
    });

    it('uses the embossed-name override when set, shortened the same way', () => {
      assert.equal(embossName('John', 'Smith', 'Dr. J. Smith-Müller', 26), 'DR. J. SMITH-MUELLER');
      assert.equal(embossName('John', 'Smith', 'Maximilian Alexander Wolf', 20), 'MAXIMILIAN A WOLF');
    });

    it('takes an override of blanks as none: first and last name', () => {
      for (const blank of [' ', '   ', '\t', ' \u00a0 ']) assert.equal(embossName('John', 'Smith', blank, 26), 'JOHN SMITH', JSON.stringify(blank));
    });

    it('is the last name alone when there is no first name', () => {
      assert.equal(embossName('', 'Madonna', undefined, 26), 'MADONNA');
    });
  });

  describe('track-1 name', () => {
    it('is SURNAME/GIVEN NAMES', () => {
      assert.equal(track1Name('John Jacob', 'Smith', 26), 'SMITH/JOHN JACOB');
    });

    it('shortens given names to initials to fit 26 characters', () => {
      assert.equal(track1Name('Maximilian Alexander', 'Schmidt', 26), 'SCHMIDT/MAXIMILIAN A');
      assert.equal(track1Name('Maximilian Alexander', 'Schmidt-Rottluff', 26), 'SCHMIDT-ROTTLUFF/M A');
      assert.equal(track1Name('Maximilian', 'Schmidt-Rottluff-Wolfenstein', 26), undefined);
    });

    it('removes the separator / from the name parts', () => {
      assert.equal(track1Name('Ann/Marie', 'Smith/Jones', 26), 'SMITH JONES/ANN MARIE');
    });

    it('is empty when there is no surname (the required check then makes the card invalid)', () => {
      assert.equal(track1Name('John', '😀', 26), '');
    });
  });
});
