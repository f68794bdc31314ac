"""Forms of the domain that are not tied to one view."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from .models import Contact, Lead, Team
from .normalize import normalize_zip


class TestLeadForm(forms.Form):
    """The facts of an imagined lead, for the admin's "test a lead" page."""

    team = forms.ModelChoiceField(queryset=Team.objects.all())
    source = forms.CharField(max_length=32, initial="webform")
    lead_type = forms.ChoiceField(choices=Lead.Type.choices, initial=Lead.Type.BUYER)
    zip_code = forms.CharField(max_length=10, required=False, label="ZIP code")
    city = forms.CharField(max_length=100, required=False)
    state = forms.CharField(max_length=2, required=False)
    price = forms.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=Decimal(0)
    )
    has_phone = forms.BooleanField(required=False, initial=True, label="Has a phone number")
    mls_number = forms.CharField(max_length=50, required=False, label="MLS number")

    def clean_zip_code(self) -> str:
        raw = self.cleaned_data.get("zip_code", "")
        if raw and not normalize_zip(raw):
            raise forms.ValidationError("Enter a five-digit ZIP code.")
        return normalize_zip(raw)

    def unsaved_lead(self) -> Lead:
        """A lead that is never saved, carrying the facts routing looks at."""
        data = self.cleaned_data
        contact = Contact(phone="+13055550100" if data["has_phone"] else "")
        return Lead(
            contact=contact,
            team=data["team"],
            source=data["source"],
            lead_type=data["lead_type"],
            property_zip=data["zip_code"],
            property_city=data["city"],
            property_state=data["state"].upper(),
            price=data["price"],
            mls_number=data["mls_number"],
        )
