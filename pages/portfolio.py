"""portfolio page (being built)."""
import streamlit as st

st.title("portfolio")
st.info("This page is being built.")
